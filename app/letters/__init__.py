"""Letters as text and as rules: the job-ask check and the rules tying a letter to its interview.

Pure domain code, no database and no HTTP: ``rules`` decides from facts the service gathers,
``job_ask`` reads a letter's sentences against the phrasings in ``job_ask_phrases.txt`` and
hands the sentences those leave open to the small classifier of ``job_ask_model``, trained
from ``data/job_ask_dev.jsonl`` and committed as ``job_ask_model.json``.
"""
