"""A bank of good informational-interview questions, grouped by topic, for users to copy from.

The questions are data, kept in ``suggested.json`` next to this module and read once. None of
them asks for a job: an informational interview gathers information.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from pydantic import BaseModel, Field


class QuestionTopic(BaseModel):
    """Questions on one topic."""

    topic: str = Field(description="A stable key: field, typical_day, entry_paths, ….")
    title: str = Field(description="The topic's name, for people.")
    questions: list[str]


class SuggestedQuestions(BaseModel):
    """The whole bank, topic by topic."""

    topics: list[QuestionTopic]


@lru_cache(maxsize=1)
def suggested() -> SuggestedQuestions:
    """The question bank, read from ``suggested.json`` once."""
    text = (
        resources.files(__package__ or "app.questions")
        .joinpath("suggested.json")
        .read_text(encoding="utf-8")
    )
    return SuggestedQuestions.model_validate_json(text)
