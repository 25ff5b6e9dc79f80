"""The mail sender: sends queued letters, in the API process or in ``infoview worker``.

Each pass claims the due messages (a lease each, see :func:`app.mail.service.claim`) and sends
them one after another in a worker thread, every one in a session of its own; between passes
it waits ``poll_interval`` seconds. Several senders (several processes) share the queue safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime

import anyio
from sqlalchemy import Engine
from sqlmodel import Session

from app.kit.config import Settings
from app.kit.db import get_engine, utcnow
from app.mail import service

log = logging.getLogger("infoview.mail")
BATCH = 20


class MailSender:
    def __init__(
        self, settings: Settings, engine: Engine | None = None, *, poll_interval: float = 1.0
    ) -> None:
        self.settings = settings
        self.engine = engine or get_engine(settings)
        self.poll_interval = poll_interval

    def run_once(self, now: datetime | None = None) -> list[str]:
        """One pass (blocking): what became of each message claimed."""
        moment = now or utcnow()
        with Session(self.engine, expire_on_commit=False) as session:
            claimed = service.claim(session, moment, BATCH)
        outcomes = []
        for mail_id in claimed:
            with Session(self.engine, expire_on_commit=False) as session:
                try:
                    outcomes.append(service.deliver(session, self.settings, mail_id, moment))
                except Exception:  # one bad message never stops the others
                    log.exception("mail delivery failed unexpectedly", extra={"mail": str(mail_id)})
                    session.rollback()
                    outcomes.append("error")
        return outcomes

    async def run_forever(self, stop: asyncio.Event) -> None:
        log.info("mail sender started")
        while not stop.is_set():
            try:
                done = await anyio.to_thread.run_sync(self.run_once)
            except Exception:
                log.exception("mail sender pass failed")
                done = []
            if len(done) < BATCH:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_interval)
        log.info("mail sender stopped")


@contextlib.asynccontextmanager
async def running(sender: MailSender, *, grace: float = 5.0) -> AsyncIterator[None]:
    """Run ``sender`` in the background for the duration of the block (the app lifespan)."""
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run_forever(stop), name="mail-sender")
    try:
        yield
    finally:
        stop.set()
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
