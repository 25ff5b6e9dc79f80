"""Contacts: the people a user talks to, imported from CSV or vCard, and when last in touch."""
