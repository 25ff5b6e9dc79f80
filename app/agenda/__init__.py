"""The agenda: what is due next, oldest first."""
