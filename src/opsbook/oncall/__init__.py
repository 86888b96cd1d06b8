"""On-call: schedules of people in layers of rotations, overrides, and who holds them when."""
