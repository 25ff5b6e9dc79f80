"""Accounts: registration, session and personal access tokens, the caller, export and import."""
