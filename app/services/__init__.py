"""Use cases: one function a verb, one commit each, domain errors raised, no HTTP."""
