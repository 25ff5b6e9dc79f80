"""Request bodies too big to check on the event loop, and lists too long to check to the end.

A JSON body of up to a megabyte can hold a hundred thousand records; checking them all takes
seconds, and listing every fault of ``[{}] * 80000`` took hundreds of megabytes. Two helpers
keep that work bounded and off the loop:

- :func:`checked_list`: a list whose items are checked one by one, and no further than the
  item where the errors found outnumber those a problem lists (``MAX_PROBLEM_ERRORS``): a bad
  list costs a bounded amount of work, not one entry per fault, and the problem's
  ``error_count`` counts the errors found, not every one there is.
- :func:`checked_later` and :func:`validate`: an operation's body is documented as its model,
  but on the event loop it is only parsed and seen to be an object; the operation validates
  it in a worker thread, where a fault is the same 422 FastAPI would have answered.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Body
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, PlainValidator, TypeAdapter, ValidationError, WrapValidator
from pydantic import Field as PydanticField
from pydantic_core import InitErrorDetails, PydanticCustomError, PydanticKnownError

from app.kit.problems import MAX_PROBLEM_ERRORS

M = TypeVar("M", bound=BaseModel)


def checked_list(item: Any, *, max_length: int) -> Any:
    """``list[item]`` of at most ``max_length`` items, checked until enough errors are found.

    Errors keep their place (``loc`` starts with the item's index), type and message; what an
    item beyond the stop would have added is not looked for.
    """
    adapter: TypeAdapter[Any] = TypeAdapter(item)

    def check(value: Any, handler: Any) -> Any:
        if not isinstance(value, list):
            return handler(value)  # not a list at all: pydantic's own error, with no items to see
        if len(value) > max_length:
            raise PydanticKnownError(
                "too_long",
                {"field_type": "List", "max_length": max_length, "actual_length": len(value)},
            )
        items: list[Any] = []
        errors: list[InitErrorDetails] = []
        for index, raw in enumerate(value):
            try:
                items.append(adapter.validate_python(raw))
            except ValidationError as exc:
                errors += [
                    InitErrorDetails(
                        # No context: the message is kept as it is, braces and all.
                        type=PydanticCustomError(error["type"], error["msg"]),
                        loc=(index, *error["loc"]),
                        input=error["input"],
                    )
                    for error in exc.errors(include_url=False)
                ]
                if len(errors) > MAX_PROBLEM_ERRORS:  # one more than a problem lists: "and more"
                    break
        if errors:
            raise ValidationError.from_exception_data("list", errors)
        return items

    return Annotated[list[item], PydanticField(max_length=max_length), WrapValidator(check)]


def _an_object(value: Any) -> Any:
    if not isinstance(value, dict):
        raise PydanticKnownError("model_attributes_type")
    return value


def checked_later(model: type[BaseModel]) -> Any:
    """A JSON object body, documented as ``model``, that the operation checks with
    :func:`validate` in a worker thread."""
    return Annotated[
        dict[str, Any], Body(), PlainValidator(_an_object, json_schema_input_type=model)
    ]


def validate(model: type[M], body: dict[str, Any]) -> M:
    """``body`` as ``model``, or the 422 FastAPI answers for a body that does not fit it."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = [
            {**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors) from None
