"""Deployments: verify a deploy stage by stage, and keep a record of each."""
