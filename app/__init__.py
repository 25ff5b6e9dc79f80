"""Infoview: the REST API that runs a career-seeker's informational interviews end to end."""

__version__ = "0.1.0"
