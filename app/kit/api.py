"""Where the API lives: every operation of version 1 has its path under one prefix.

Each domain's router is declared with it (``APIRouter(prefix=API_PREFIX, ...)``), so the
routes it builds carry their full path, and the application serves them as they are.
"""

API_PREFIX = "/api/v1"
