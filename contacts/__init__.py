"""Contacts: people and their phones, teams, the duty roster, spreadsheet import and export.

Above ``jurisdiction`` (people and teams belong to its units); below ``mobilization``, which
calls them through contact trees.
"""
