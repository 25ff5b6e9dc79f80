"""Interactions: calls, voicemails, meetings, messages and replies outside letters."""
