"""Mobilization: contact trees, the cascade, delivery through channels, answers and progress.

Above ``contacts`` (people, teams, the roster) and ``jurisdiction`` (grids); below ``drills``,
which runs exercise mobilizations, and the console, which runs the engine loop.
"""
