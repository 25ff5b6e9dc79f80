"""The only path to the OAuth tables: apps, grants, codes and tokens."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.kit.queries import get_owned, keyset_page, owned
from app.oauth.schemas import OAuthAuthorization, OAuthClient, OAuthCode, OAuthToken

#: A token with the grant and the app it was issued under.
IssuedToken = tuple[OAuthToken, OAuthAuthorization, OAuthClient]


class OAuthRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: OAuthClient | OAuthAuthorization | OAuthCode | OAuthToken) -> None:
        self.session.add(row)

    # --- apps ---

    def client_by_client_id(self, client_id: str) -> OAuthClient | None:
        return self.session.exec(
            select(OAuthClient).where(OAuthClient.client_id == client_id)
        ).first()

    def client_by_id(self, client_pk: uuid.UUID) -> OAuthClient | None:
        return self.session.get(OAuthClient, client_pk)

    def clients_page(
        self, owner_id: uuid.UUID, *, limit: int, cursor: str | None
    ) -> tuple[Sequence[OAuthClient], bool, str | None]:
        return keyset_page(
            self.session,
            owned(OAuthClient, owner_id),
            OAuthClient.id,
            owner_id=owner_id,
            limit=limit,
            cursor=cursor,
        )

    def client(self, owner_id: uuid.UUID, client_pk: uuid.UUID) -> OAuthClient:
        return get_owned(self.session, OAuthClient, client_pk, owner_id, what="app")

    def delete(self, row: OAuthClient | OAuthAuthorization) -> None:
        self.session.delete(row)

    # --- grants ---

    def authorization_for(self, owner_id: uuid.UUID, client_pk: uuid.UUID) -> OAuthAuthorization:
        """The user's grant to the app, made (with no scopes yet) if there is none."""
        found = self.session.exec(
            select(OAuthAuthorization)
            .where(OAuthAuthorization.owner_id == owner_id)
            .where(OAuthAuthorization.client_pk == client_pk)
        ).first()
        if found is None:
            found = OAuthAuthorization(owner_id=owner_id, client_pk=client_pk, scopes=[])
        return found

    def authorizations_page(
        self, owner_id: uuid.UUID, *, limit: int, cursor: str | None
    ) -> tuple[list[tuple[OAuthAuthorization, OAuthClient]], bool, str | None]:
        rows, has_more, next_cursor = keyset_page(
            self.session,
            owned(OAuthAuthorization, owner_id),
            OAuthAuthorization.id,
            owner_id=owner_id,
            limit=limit,
            cursor=cursor,
        )
        clients = {row.client_pk for row in rows}
        apps = {
            app.id: app
            for app in self.session.exec(
                select(OAuthClient).where(col(OAuthClient.id).in_(clients))
            ).all()
        }
        return [(row, apps[row.client_pk]) for row in rows], has_more, next_cursor

    def authorization(
        self, owner_id: uuid.UUID, authorization_id: uuid.UUID
    ) -> tuple[OAuthAuthorization, OAuthClient]:
        grant = get_owned(
            self.session, OAuthAuthorization, authorization_id, owner_id, what="authorization"
        )
        app = self.session.get(OAuthClient, grant.client_pk)
        assert app is not None  # the grant is deleted with its app
        return grant, app

    # --- codes ---

    def code(
        self, code_hash: str, client_pk: uuid.UUID
    ) -> tuple[OAuthCode, OAuthAuthorization] | None:
        """The code with this hash and its grant, if it was issued to this app."""
        row = self.session.exec(
            select(OAuthCode, OAuthAuthorization)
            .join(OAuthAuthorization, col(OAuthAuthorization.id) == OAuthCode.authorization_id)
            .where(OAuthCode.code_hash == code_hash)
            .where(OAuthAuthorization.client_pk == client_pk)
        ).first()
        return None if row is None else (row[0], row[1])

    def claim_code(self, code_id: uuid.UUID, now: datetime) -> bool:
        """Mark the code used; False if it already was (by a concurrent exchange, say)."""
        result = self.session.execute(
            update(OAuthCode)
            .where(col(OAuthCode.id) == code_id)
            .where(col(OAuthCode.used_at).is_(None))
            .values(used_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # --- tokens ---

    def _issued(self) -> object:
        return (
            select(OAuthToken, OAuthAuthorization, OAuthClient)
            .join(OAuthAuthorization, col(OAuthAuthorization.id) == OAuthToken.authorization_id)
            .join(OAuthClient, col(OAuthClient.id) == OAuthAuthorization.client_pk)
        )

    def by_access(self, access_hash: str) -> IssuedToken | None:
        statement = self._issued().where(OAuthToken.access_hash == access_hash)  # type: ignore[attr-defined]
        row = self.session.exec(statement).first()
        return None if row is None else (row[0], row[1], row[2])

    def by_refresh(self, refresh_hash: str) -> IssuedToken | None:
        statement = self._issued().where(OAuthToken.refresh_hash == refresh_hash)  # type: ignore[attr-defined]
        row = self.session.exec(statement).first()
        return None if row is None else (row[0], row[1], row[2])

    def mark_rotated(self, token_id: uuid.UUID, now: datetime) -> bool:
        """Mark a refresh token used; False if it already was."""
        result = self.session.execute(
            update(OAuthToken)
            .where(col(OAuthToken.id) == token_id)
            .where(col(OAuthToken.rotated_at).is_(None))
            .values(rotated_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def revoke(self, token_id: uuid.UUID, now: datetime) -> None:
        self.session.execute(
            update(OAuthToken)
            .where(col(OAuthToken.id) == token_id)
            .where(col(OAuthToken.revoked_at).is_(None))
            .values(revoked_at=now)
        )

    def revoke_family(self, family_id: uuid.UUID, now: datetime) -> None:
        self.session.execute(
            update(OAuthToken)
            .where(col(OAuthToken.family_id) == family_id)
            .where(col(OAuthToken.revoked_at).is_(None))
            .values(revoked_at=now)
        )
