"""HTTP for the figures and the field briefs."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["insights"])
