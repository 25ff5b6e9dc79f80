"""Interviews: the conversation, its preparation checklist, workflow and take-away export."""
