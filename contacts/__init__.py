"""Contacts: people and their phones, teams, the duty roster, spreadsheet import and export.

Above ``jurisdiction`` (people and teams belong to its units); below ``mobilization``, which
reaches them through contact trees, and ``drills``. A person is named in one way everywhere:
:func:`contacts.people.get_person` (by id, key, phone or unique name).
"""
