"""Request handlers worked out once per operation, not again on every request.

FastAPI solves an operation's dependencies generically on each request: for every parameter
it works out again whether its annotation is a sequence, whether it stands for a model, which
aliases it answers to; for every dependency, whether it is a generator or a coroutine; and it
parses the ``Content-Type`` of each body with the email package. Measured on this API, ten
optional query parameters cost 85 µs a request before one of them was validated, and each
dependency 10 µs: more than the database query behind a list page.

:class:`PlannedRoute` works all that out when the route is built. Per request, its handler
reads each value from where the plan says, validates it with FastAPI's own field (the same
coercions, defaults and error entries), calls the dependencies in FastAPI's order with the
same per-request cache, reads a JSON body and shapes the response exactly as FastAPI does.
An operation that uses anything the plan does not cover (forms, generator or sync
dependencies, background tasks, security scopes, streamed results, validation aliases) keeps
FastAPI's own handler, as does every request made while ``dependency_overrides`` are set.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Mapping
from copy import deepcopy
from dataclasses import dataclass
from inspect import isasyncgenfunction, iscoroutinefunction, isgeneratorfunction
from typing import Any

from fastapi import params
from fastapi._compat import ModelField, field_annotation_is_sequence, get_missing_field_error
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_body_to_args
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.routing import APIRoute, serialize_response
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import BaseModel, Json
from pydantic_core import PydanticUndefined
from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
_IMMUTABLE_DEFAULTS = (type(None), bool, int, float, str, bytes)


@dataclass(frozen=True, slots=True)
class _Param:
    """One path, query, header or cookie parameter: where to read it, how to validate it."""

    name: str
    key: str  # the name it has in the request
    loc: tuple[str, str]
    field: ModelField
    many: bool  # a list parameter: every occurrence, not the first
    default_needs_copy: bool

    def read(self, source: Any, values: dict[str, Any]) -> tuple[Any, list[Any]]:
        value = source.getlist(self.key) if self.many else source.get(self.key)
        field = self.field
        if value is None or (self.many and not value):
            if field.field_info.is_required():
                return None, [get_missing_field_error(loc=self.loc)]
            default = field.default
            value = deepcopy(default) if self.default_needs_copy else default
            if not field.field_info.validate_default:
                return value, []
        return field.validate(value, values, loc=self.loc)


@dataclass(frozen=True, slots=True)
class _Call:
    """An endpoint or a dependency: what it needs, in the order FastAPI provides it."""

    name: str | None
    call: Callable[..., Any]
    use_cache: bool
    dependencies: tuple[_Call, ...]
    path: tuple[_Param, ...]
    query: tuple[_Param, ...]
    headers: tuple[_Param, ...]
    cookies: tuple[_Param, ...]
    request_name: str | None
    connection_name: str | None  # a parameter typed HTTPConnection: the request too
    response_name: str | None


def _param(field: ModelField, location: str, *, convert_underscores: bool = False) -> _Param | None:
    info = field.field_info
    annotation = info.annotation
    if info.validation_alias is not None or any(type(item) is Json for item in info.metadata):
        return None  # aliases to choose among; JSON-encoded parameter values
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return None  # a parameter model: FastAPI spreads it over several keys
    key = field.alias
    if convert_underscores and key == field.name:
        key = key.replace("_", "-")
    default = field.default
    return _Param(
        name=field.name,
        key=key,
        loc=(location, key),
        field=field,
        many=location in ("query", "header") and field_annotation_is_sequence(annotation),
        default_needs_copy=default is not PydanticUndefined
        and not isinstance(default, _IMMUTABLE_DEFAULTS),
    )


def _is_async(call: Callable[..., Any]) -> bool:
    if iscoroutinefunction(call):
        return True
    dunder = getattr(call, "__call__", None)  # noqa: B004 - a callable instance's method
    return not isinstance(call, type) and dunder is not None and iscoroutinefunction(dunder)


def _plan(dependant: Dependant) -> _Call | None:
    """The plan of a dependant, or None where it needs something only FastAPI provides."""
    call = dependant.call
    if (
        call is None
        or not _is_async(call)
        or isgeneratorfunction(call)
        or isasyncgenfunction(call)
        or dependant.websocket_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or dependant.own_oauth_scopes
        or dependant.concurrency is not None
    ):
        return None
    dependencies = tuple(_plan(sub) for sub in dependant.dependencies)
    groups: list[tuple[_Param, ...]] = []
    for fields, location in (
        (dependant.path_params, "path"),
        (dependant.query_params, "query"),
        (dependant.header_params, "header"),
        (dependant.cookie_params, "cookie"),
    ):
        planned = tuple(
            _param(
                field,
                location,
                convert_underscores=getattr(field.field_info, "convert_underscores", False),
            )
            for field in fields
        )
        if any(p is None for p in planned):
            return None
        groups.append(planned)  # type: ignore[arg-type]
    if any(sub is None for sub in dependencies):
        return None
    path, query, headers, cookies = groups
    return _Call(
        name=dependant.name,
        call=call,
        use_cache=dependant.use_cache,
        dependencies=dependencies,  # type: ignore[arg-type]
        path=path,
        query=query,
        headers=headers,
        cookies=cookies,
        request_name=dependant.request_param_name,
        connection_name=dependant.http_connection_param_name,
        response_name=dependant.response_param_name,
    )


def _sub_response() -> Response:
    """The ``Response`` a dependency or endpoint may set headers and a status on."""
    response = Response()
    del response.headers["content-length"]
    response.status_code = None  # type: ignore[assignment]
    return response


def _read_group(
    group: tuple[_Param, ...], source: Any, values: dict[str, Any], errors: list[Any]
) -> None:
    """Read and validate one source's parameters into ``values``, errors into ``errors``."""
    group_values: dict[str, Any] = {}
    for param in group:
        value, param_errors = param.read(source, group_values)
        if param_errors:
            errors.extend(param_errors)
        else:
            group_values[param.name] = value
    values.update(group_values)


async def _solve(
    plan: _Call,
    request: Request,
    response: Response,
    cache: dict[Callable[..., Any], Any],
    errors: list[Any],
) -> dict[str, Any]:
    """The keyword arguments of ``plan.call``, solved as FastAPI's ``solve_dependencies`` does.

    Dependencies first, in order, each with its own dependencies and parameters; one that
    failed validation is not called and the others still are. Then the call's own parameters.
    Errors are collected into ``errors``.
    """
    values: dict[str, Any] = {}
    for sub in plan.dependencies:
        sub_errors: list[Any] = []
        sub_values = await _solve(sub, request, response, cache, sub_errors)
        if sub_errors:
            errors.extend(sub_errors)
            continue
        if sub.use_cache and sub.call in cache:
            solved = cache[sub.call]
        else:
            solved = await sub.call(**sub_values)
        if sub.name is not None:
            values[sub.name] = solved
        cache.setdefault(sub.call, solved)
    # Each source is parsed only if some parameter comes from it.
    if plan.path:
        _read_group(plan.path, request.path_params, values, errors)
    if plan.query:
        _read_group(plan.query, request.query_params, values, errors)
    if plan.headers:
        _read_group(plan.headers, request.headers, values, errors)
    if plan.cookies:
        _read_group(plan.cookies, request.cookies, values, errors)
    if plan.connection_name:
        values[plan.connection_name] = request
    if plan.request_name:
        values[plan.request_name] = request
    if plan.response_name:
        values[plan.response_name] = response
    return values


def _is_json(content_type: str) -> bool:
    """``application/json`` or ``application/<anything>+json``, parameters aside."""
    main, _, sub = content_type.partition(";")[0].strip().lower().partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


async def _read_body(request: Request, strict_content_type: bool) -> Any:
    """The body as FastAPI's handler reads it: JSON when declared so, else the bytes."""
    try:
        body_bytes = await request.body()
        if not body_bytes:
            return PydanticUndefined
        content_type = request.headers.get("content-type")
        if not content_type:
            return body_bytes if strict_content_type else json.loads(body_bytes)
        return json.loads(body_bytes) if _is_json(content_type) else body_bytes
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", exc.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
            ],
            body=exc.doc,
        ) from exc
    except HTTPException:
        raise
    except Exception as exc:
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from exc


def planned_handler(route: APIRoute, fallback: Handler) -> Handler | None:
    """A handler for ``route`` from its plan, or None when FastAPI's own must serve it."""
    plan = _plan(route.dependant)
    body_field = route.body_field
    if (
        plan is None
        or route.stream_item_field is not None
        or route.is_json_stream
        or (body_field is not None and isinstance(body_field.field_info, params.Form))
    ):
        return None
    body_params = route.dependant.body_params
    embed_body_fields = route._embed_body_fields
    strict = route.strict_content_type
    strict_content_type = strict.value if isinstance(strict, DefaultPlaceholder) else strict
    response_class = route.response_class
    actual_response_class: type[Response] = (
        response_class.value if isinstance(response_class, DefaultPlaceholder) else response_class
    )
    response_field = route.response_field
    use_dump_json = response_field is not None and isinstance(response_class, DefaultPlaceholder)
    status_code = route.status_code
    overrides = route.dependency_overrides_provider
    dump_options: Mapping[str, Any] = {
        "include": route.response_model_include,
        "exclude": route.response_model_exclude,
        "by_alias": route.response_model_by_alias,
        "exclude_unset": route.response_model_exclude_unset,
        "exclude_defaults": route.response_model_exclude_defaults,
        "exclude_none": route.response_model_exclude_none,
    }
    endpoint = plan.call

    async def handler(request: Request) -> Response:
        if overrides is not None and getattr(overrides, "dependency_overrides", None):
            return await fallback(request)
        body = PydanticUndefined
        if body_field is not None:
            body = await _read_body(request, strict_content_type)
        sub_response = _sub_response()
        errors: list[Any] = []
        values = await _solve(plan, request, sub_response, {}, errors)
        if body_params:
            body_values, body_errors = await request_body_to_args(
                body_fields=body_params, received_body=body, embed_body_fields=embed_body_fields
            )
            values.update(body_values)
            errors.extend(body_errors)
        if errors:
            raise RequestValidationError(errors, body=None if body is PydanticUndefined else body)
        raw_response = await endpoint(**values)
        if isinstance(raw_response, Response):
            return raw_response
        response_args: dict[str, Any] = {}
        current_status = status_code if status_code else sub_response.status_code
        if current_status is not None:
            response_args["status_code"] = current_status
        if sub_response.status_code:
            response_args["status_code"] = sub_response.status_code
        content = await serialize_response(
            field=response_field,
            response_content=raw_response,
            dump_json=use_dump_json,
            **dump_options,
        )
        if use_dump_json:
            response = Response(content=content, media_type="application/json", **response_args)
        else:
            response = actual_response_class(content, **response_args)
        if not is_body_allowed_for_status_code(response.status_code):
            response.body = b""
        response.headers.raw.extend(sub_response.headers.raw)
        return response

    return handler


class PlannedRoute(APIRoute):
    """An ``APIRoute`` whose handler is planned when the route is built (see the module)."""

    planned = False  # whether the last handler built came from a plan

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        handler = planned_handler(self, standard)
        self.planned = handler is not None
        return handler or standard
