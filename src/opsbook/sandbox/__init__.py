"""The reference target: a small app and schema shaped like the seed's, with fault switches."""
