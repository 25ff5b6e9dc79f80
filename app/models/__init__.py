"""Every table, imported here so Alembic and the app see one complete metadata."""

from app.models.access_token import PersonalAccessToken
from app.models.contact import Contact
from app.models.idempotency import IdempotencyRecord
from app.models.interview import Interview, InterviewEvent, PrepChecklist
from app.models.letter import Letter
from app.models.referral import Referral
from app.models.template import LetterTemplate
from app.models.user import RefreshToken, UserAccount
from app.models.webhook import OutboxEvent, WebhookDelivery, WebhookSubscription

__all__ = [
    "Contact",
    "IdempotencyRecord",
    "Interview",
    "InterviewEvent",
    "Letter",
    "LetterTemplate",
    "OutboxEvent",
    "PersonalAccessToken",
    "PrepChecklist",
    "Referral",
    "RefreshToken",
    "UserAccount",
    "WebhookDelivery",
    "WebhookSubscription",
]
