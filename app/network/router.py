"""HTTP for the referral network."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["insights"])
