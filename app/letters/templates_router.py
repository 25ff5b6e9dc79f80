"""Letter templates: read, replace and restore the template each kind of letter is drafted from."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from starlette.concurrency import run_in_threadpool

from app.accounts.deps import CurrentUser, IfMatch, ReadSessionDep, SessionDep, ThreadSessionDep
from app.kit.api import API_PREFIX
from app.kit.problems import declared_headers, problem_responses, success_headers
from app.kit.queries import etag
from app.letters import user_templates as service
from app.letters.context import variable_names
from app.letters.template_schemas import TemplatePublic, TemplateUpdate
from app.vocabulary import LetterKind

router = APIRouter(prefix=API_PREFIX, tags=["templates"])

# {kind} is a closed set, so an unknown kind is a 422; 404 is declared anyway, as on every
# path with a parameter, so clients handle all such paths alike.

Kind = Annotated[LetterKind, Path(description="The kind of letter the template drafts.")]


def _public(view: service.TemplateView, response: Response) -> TemplatePublic:
    response.headers["ETag"] = etag(view.version)
    return TemplatePublic(
        kind=view.kind,
        source=view.source,
        custom=view.custom,
        updated_at=view.updated_at,
        variables=variable_names(),
    )


@router.get(
    "/templates/{kind}",
    operation_id="templates-get",
    response_model=TemplatePublic,
    responses={**problem_responses(401, 404, 422), **success_headers(200, "ETag")},
)
async def get_template(
    kind: Kind, session: ReadSessionDep, user: CurrentUser, response: Response
) -> TemplatePublic:
    """Get the template a kind of letter is drafted from: yours, or the built-in one."""
    return _public(await session.run(service.get, user.id, kind), response)


@router.put(
    "/templates/{kind}",
    operation_id="templates-put",
    response_model=TemplatePublic,
    responses={
        **success_headers(200, "ETag"),
        201: {
            "model": TemplatePublic,
            "description": "Created",
            "headers": declared_headers("ETag", "Location"),
        },
        **problem_responses(401, 404, 409, 412, 422),
    },
)
async def put_template(
    kind: Kind,
    data: TemplateUpdate,
    session: ThreadSessionDep,
    user: CurrentUser,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
) -> TemplatePublic:
    """Save your own template for a kind of letter, after checking it (201 or 200)."""
    # Checking renders two sample letters: CPU work, off the event loop.
    view, created = await run_in_threadpool(
        service.save, session, user.id, kind, data.source, if_match=if_match
    )
    if created:
        response.status_code = status.HTTP_201_CREATED
        response.headers["Location"] = str(request.url.path)
    return _public(view, response)


@router.delete(
    "/templates/{kind}",
    operation_id="templates-delete",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(401, 404, 409, 412, 422),
)
async def delete_template(
    kind: Kind, session: SessionDep, user: CurrentUser, if_match: IfMatch = None
) -> Response:
    """Delete your template for a kind of letter, so the built-in one applies again."""
    await session.run(service.delete_template, user.id, kind, if_match=if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
