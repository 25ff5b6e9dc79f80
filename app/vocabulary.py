"""The domain's closed vocabularies, exactly as they appear on the wire.

Stored as plain strings (never native database enums) and validated at the API edge.
"""

from __future__ import annotations

from enum import StrEnum


class InterviewState(StrEnum):
    REQUEST = "request"
    PREPARED = "prepared"
    HELD = "held"
    THANKED = "thanked"
    REPORTED_BACK = "reported-back"
    CANCELLED = "cancelled"


class InterviewMode(StrEnum):
    IN_PERSON = "in_person"
    PHONE = "phone"
    VIDEO = "video"
    EMAIL = "email"


class Decision(StrEnum):
    UNDECIDED = "undecided"
    PURSUE = "pursue"
    NOT_PURSUE = "not_pursue"


class Relationship(StrEnum):
    FRIEND = "friend"
    FAMILY = "family"
    COLLEAGUE = "colleague"
    FACULTY = "faculty"
    FORMER_EMPLOYER = "former_employer"
    OTHER = "other"


class LetterKind(StrEnum):
    REQUEST = "request"
    FOLLOW_UP = "follow_up"
    THANK_YOU = "thank_you"
    REPORT_BACK = "report_back"
    UPDATE = "update"
    FEELER = "feeler"
    KEEP_IN_TOUCH = "keep_in_touch"


class LetterStatus(StrEnum):
    DRAFT = "draft"
    SENT = "sent"


class LetterDelivery(StrEnum):
    """How a letter is sent: ``email`` (the API sends it) or ``record`` (sent elsewhere)."""

    EMAIL = "email"
    RECORD = "record"


class LetterDeliveryStatus(StrEnum):
    """Where an emailed letter is: waiting for the mail server, accepted by it, or given up."""

    QUEUED = "queued"
    DELIVERED = "delivered"
    FAILED = "failed"


class Channel(StrEnum):
    EMAIL = "email"
    POSTAL = "postal"
    OTHER = "other"


class InteractionKind(StrEnum):
    CALL = "call"
    VOICEMAIL = "voicemail"
    MEETING = "meeting"
    MESSAGE = "message"
    REPLY = "reply"


class Direction(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class Outcome(StrEnum):
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    LEFT_VOICEMAIL = "left_voicemail"
    AGREED = "agreed"
    DECLINED = "declined"


class DocumentKind(StrEnum):
    RESUME = "resume"
    PORTFOLIO = "portfolio"
    OTHER = "other"
