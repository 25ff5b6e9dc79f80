"""The Infoview benchmark: seeded databases, a live server, wrk on loopback."""
