"""Idempotency-Key: the middleware that replays a POST's first answer, and what it keeps."""
