"""Letters as text and as rules: the job-ask check and the rules tying a letter to its interview.

Pure domain code, no database and no HTTP: ``rules`` decides from facts the service gathers,
``job_ask`` reads a letter's words against the phrasings in ``job_ask_phrases.txt``.
"""
