"""HTTP for search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import StringConstraints

from app.accounts.deps import ConnectionDep, CurrentReader
from app.kit.api import API_PREFIX
from app.kit.database import scan
from app.kit.problems import problem_responses
from app.search import service as search_service
from app.search.schemas import SearchKind, SearchResults

router = APIRouter(prefix=API_PREFIX, tags=["insights"])

_KIND = "(contact|interview|letter)"
# One kind, or several separated by commas: ``kind=contact&kind=letter`` or
# ``kind=contact,letter``.
KindList = Annotated[str, StringConstraints(max_length=40, pattern=rf"^{_KIND}(,{_KIND})*$")]


def _kinds(values: list[str] | None) -> frozenset[SearchKind]:
    if not values:
        return frozenset(SearchKind)
    return frozenset(SearchKind(kind) for value in values for kind in value.split(","))


@router.get(
    "/search",
    operation_id="insights-search",
    response_model=SearchResults,
    responses=problem_responses(401, 403, 422),
)
async def search(
    connection: ConnectionDep,
    user: CurrentReader,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=search_service.MAX_QUERY_LENGTH,
            description='The words to find, all of them. "A quoted phrase" finds the words '
            "together; -word leaves out what contains it. Other punctuation only separates "
            "words.",
        ),
    ],
    kind: Annotated[
        list[KindList] | None,
        Query(
            max_length=3,
            description="Only these kinds of record: contact, interview, letter (repeat the "
            "parameter, or separate kinds with commas). Default: all three.",
        ),
    ] = None,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=search_service.MAX_LIMIT,
            description=f"At most this many hits, 1 to {search_service.MAX_LIMIT}.",
        ),
    ] = search_service.DEFAULT_LIMIT,
) -> SearchResults:
    """Search contacts, interviews and letters for words, best matches first.

    Looks in a contact's name, organization, title, tags and notes; an interview's notes,
    questions and answers, advice and next steps (and its organization and career field); a
    letter's subject and body. Word endings and accents do not matter: "interviewing" finds
    "interviews", "resume" finds "résumé". Each hit names its record and shows the passage
    where the words were found, marked. Not paged: `has_more` says more records match than
    `limit`; narrow the search to see them.
    """
    return await scan(
        connection, search_service.search, user.id, q, kinds=_kinds(kind), limit=limit
    )
