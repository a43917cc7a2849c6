"""Jurisdiction, grids and coverage (and, in later issues, people, channels and mobilization)."""
