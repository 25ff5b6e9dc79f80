"""Every table, imported here so Alembic and the app see one complete metadata."""

from app.accounts.schemas import RefreshToken, UserAccount
from app.accounts.token_schemas import PersonalAccessToken
from app.contacts.schemas import Contact
from app.documents.schemas import Document
from app.idempotency.schemas import IdempotencyRecord
from app.interactions.schemas import Interaction
from app.interviews.schemas import Interview, InterviewEvent, PrepChecklist
from app.letters.schemas import Letter
from app.letters.template_schemas import LetterTemplate
from app.mail.schemas import InboundAddress, InboundMessage, MailAccount, MailMessage
from app.oauth.schemas import OAuthAuthorization, OAuthClient, OAuthCode, OAuthToken
from app.referrals.schemas import Referral
from app.webhooks.schemas import OutboxEvent, WebhookDelivery, WebhookSubscription

__all__ = [
    "Contact",
    "Document",
    "IdempotencyRecord",
    "InboundAddress",
    "InboundMessage",
    "Interaction",
    "Interview",
    "InterviewEvent",
    "Letter",
    "LetterTemplate",
    "MailAccount",
    "MailMessage",
    "OAuthAuthorization",
    "OAuthClient",
    "OAuthCode",
    "OAuthToken",
    "OutboxEvent",
    "PersonalAccessToken",
    "PrepChecklist",
    "Referral",
    "RefreshToken",
    "UserAccount",
    "WebhookDelivery",
    "WebhookSubscription",
]
