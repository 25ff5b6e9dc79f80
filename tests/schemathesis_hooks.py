"""Hooks for the Schemathesis command line (``SCHEMATHESIS_HOOKS=tests.schemathesis_hooks``).

Two rules of the API no schema can state, so the run follows them as a client would:

- An ``Idempotency-Key`` is unique to one request. A generator draws keys from the header's
  pattern and sends the same value with different requests, which the server rightly refuses
  (422 ``idempotency_key_reused``). So every well-formed key is replaced by a fresh UUID just
  before the call; a malformed one (a negative case) goes out as drawn.
- A ``time_zone`` names a zone of the IANA database: the document gives its shape, not the
  list (six hundred names, which change with each release of the database and which SDK
  generators cannot all turn into enums). A drawn name of the right shape that the database
  does not know is replaced by one it does; a name of the wrong shape goes out as drawn.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import schemathesis

from app.kit.times import MAX_ZONE_LENGTH, ZONE_PATTERN, canonical_zone

HEADER = "Idempotency-Key"
_WELL_FORMED = re.compile(r"^[!-~]([ -~]*[!-~])?$")


ZONE = "Europe/Berlin"
_ZONE_SHAPE = re.compile(ZONE_PATTERN)


def _known_zones(value: Any) -> None:
    """Replace every unknown ``time_zone`` string in a JSON value, in place."""
    if isinstance(value, dict):
        for key, item in value.items():
            if (
                key == "time_zone"
                and isinstance(item, str)
                and _ZONE_SHAPE.match(item)  # a shape-invalid name stays: a negative case
                and len(item) <= MAX_ZONE_LENGTH
                and canonical_zone(item) is None
            ):
                value[key] = ZONE
            else:
                _known_zones(item)
    elif isinstance(value, list):
        for item in value:
            _known_zones(item)


@schemathesis.hook
def before_call(context: Any, case: Any, **kwargs: Any) -> None:
    """Give each request with a well-formed key a key of its own; name known time zones."""
    _known_zones(case.body)
    headers = case.headers or {}
    for name, value in list(headers.items()):
        if (
            name.lower() == HEADER.lower()
            and isinstance(value, str)
            and len(value) <= 255
            and _WELL_FORMED.match(value)
        ):
            headers[name] = str(uuid.uuid4())
