"""The calendar feed's own secret: created or rotated on request, revocable, stored hashed.

Calendar apps subscribe to a URL and cannot send a bearer header, so the feed is opened by a
token in its query string instead. That token opens nothing else: it is not a bearer token
(its ``ivc_`` prefix tells it apart, and secret scanners can spot a leaked one), and only
its SHA-256 is kept, in ``user_account.calendar_token_hash``. Rotating it replaces the hash,
so the previous token stops working with the same write.
"""

from __future__ import annotations

import secrets
import uuid

from sqlmodel import Session

from app.accounts.schemas import UserAccount
from app.calendar.repository import CalendarTokenRepository
from app.kit.errors import Unauthorized
from app.kit.security import sha256_hex

SECRET_PREFIX = "ivc_"
# Longer than any token we issue: a longer one is refused without a lookup.
MAX_TOKEN_LENGTH = 200
# What the feed accepts in its query string at all, so that a wrong credential pasted there
# (a JWT, say) is still answered 401 rather than 422.
MAX_QUERY_LENGTH = 2048


def rotate(session: Session, user_id: uuid.UUID) -> str:
    """Issue a new feed token for the user, replacing any previous one; return the secret."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    CalendarTokenRepository(session).set_hash(user_id, sha256_hex(secret))
    session.commit()
    return secret


def revoke(session: Session, user_id: uuid.UUID) -> None:
    """Turn the feed off: the current token, if any, stops working."""
    CalendarTokenRepository(session).set_hash(user_id, None)
    session.commit()


def user_for(session: Session, token: str | None) -> UserAccount:
    """The user a feed token belongs to; a missing, unknown or replaced token is a 401."""
    if not token:
        raise Unauthorized(
            "The calendar feed needs its token: ?token=<the token from POST "
            "/api/v1/calendar/token>.",
            code="calendar_token_missing",
        )
    user = None
    if token.startswith(SECRET_PREFIX) and len(token) <= MAX_TOKEN_LENGTH:
        user = CalendarTokenRepository(session).user_with_hash(sha256_hex(token))
    if user is None:
        raise Unauthorized(
            "The calendar token is invalid or was replaced; create a new one with POST "
            "/api/v1/calendar/token.",
            code="calendar_token_invalid",
        )
    return user
