"""Matching service: who gets a free place in a facility, in which order, and why."""
