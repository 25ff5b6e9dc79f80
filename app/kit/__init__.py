"""The shared kernel: database, settings, problems, pagination, concurrency, security.

It knows no domain: the domain packages import it, never the other way round.
"""
