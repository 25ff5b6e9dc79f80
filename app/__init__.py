"""Infoview: the REST API that runs a career-seeker's informational interviews end to end."""

__version__ = "1.0.0"
