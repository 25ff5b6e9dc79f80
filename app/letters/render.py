"""Render letter templates: Jinja2 in a sandbox, with every cost a template can incur bounded.

A letter template is written by a user and runs inside a request, so it must neither read
what it shouldn't nor run for long. The environment here is Jinja's immutable sandbox with
``StrictUndefined`` (a misspelt variable is an error, not an empty string) and autoescape off
(letters are plain text), tightened in five ways:

- **what it can touch**: attributes starting with ``_`` are refused (the sandbox's own rule,
  which stops ``''.__class__.__mro__``); on strings, lists and dicts only a short list of
  harmless methods is callable; numbers expose nothing; ``str.format`` is refused (the
  ``format`` filter does the same job under our checks); ``include``/``extends``/``import``
  are refused, and so is the ``lipsum`` global;
- **how long it loops**: every ``for`` loop iterates through a counter, and every call
  (macros, methods, ``loop()``) counts too: at most ``MAX_STEPS`` in one render; ``range``
  gives at most ``MAX_RANGE`` numbers;
- **how big its values grow**: every value a template builds — by a filter, an operator,
  ``~``, a list or dict literal, a call — is measured and refused beyond ``MAX_WEIGHT``
  (characters, counting a container as the sum of its items); operators and filters that
  could blow up before the result exists (``*``, ``**``, ``join``, ``replace``, ``indent``,
  ``wordwrap``, widths) are checked from their operands first, and ``%`` formatting (the
  operator and the ``format`` filter) is walked conversion by conversion, its widths,
  precisions and pieces measured, before Python formats anything;
- **how much work it does in all**: the sizes of everything produced add up to at most
  ``MAX_WORK``; the output is at most ``MAX_OUTPUT`` characters;
- **how long it takes**: a wall-clock deadline (``MAX_SECONDS``) is checked at every step,
  as a backstop for whatever the counts above let through.

The counters are attached to the template's compiled code by rewriting its syntax tree:
``for`` loops iterate through ``guard_loop``, ``~`` becomes ``guard_concat`` and literals
``guard_list``/``guard_tuple``/``guard_dict``; all other calls already pass through the
sandbox's ``call``. A template that breaks a limit raises :class:`TemplateTooExpensive`.

``compile_template`` and ``render`` raise :class:`TemplateProblem` subclasses that carry the
template line at fault, so the API can point the user at it.
"""

from __future__ import annotations

import contextvars
import re
import time
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from dataclasses import dataclass, fields, is_dataclass
from functools import lru_cache
from types import TracebackType
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace, pass_context
from jinja2.utils import _PassArg as PassArg  # how Jinja marks what a filter is passed
from jinja2.visitor import NodeTransformer

#: Longest template source accepted, in characters.
MAX_SOURCE = 20_000
#: Longest rendered letter (subject line and body), in characters.
MAX_OUTPUT = 50_000
#: Loop iterations plus calls in one render.
MAX_STEPS = 20_000
#: Largest value a template may build (characters; a container counts its items).
MAX_WEIGHT = 1_000_000
#: Sum of the sizes of everything produced in one render.
MAX_WORK = 5_000_000
#: Most numbers ``range`` gives.
MAX_RANGE = 10_000
#: Largest number a width, count or precision argument may take.
MAX_INT_ARG = 10_000
#: Longest separator or indentation string given to a filter.
MAX_STR_ARG = 1_000
#: Largest integer a template may compute, in bits.
MAX_INT_BITS = 256
#: Wall-clock time one render may take.
MAX_SECONDS = 1.0

TEMPLATE_FILENAME = "<template>"

# Methods of built-in values a template may call; everything else on them is refused.
_STR_METHODS = frozenset(
    {
        "capitalize",
        "casefold",
        "count",
        "endswith",
        "find",
        "isalnum",
        "isalpha",
        "isdigit",
        "islower",
        "isspace",
        "istitle",
        "isupper",
        "lower",
        "lstrip",
        "partition",
        "removeprefix",
        "removesuffix",
        "replace",
        "rfind",
        "rpartition",
        "rsplit",
        "rstrip",
        "split",
        "splitlines",
        "startswith",
        "strip",
        "title",
        "upper",
    }
)
_DICT_METHODS = frozenset({"get", "items", "keys", "values"})
_SEQUENCE_METHODS = frozenset({"count", "index"})
_NUMBER_TYPES = (int, float, complex, bool)
# Filters that make HTML or random output: no use in a letter, and urlize amplifies.
_DROPPED_FILTERS = ("urlize", "xmlattr", "random")
# Filters whose numbers are widths or counts, and those whose strings are repeated.
_SIZED_FILTERS = frozenset({"batch", "center", "indent", "round", "slice", "truncate", "wordwrap"})
_SEPARATED_FILTERS = frozenset({"indent", "join", "wordwrap"})


# --- problems -----------------------------------------------------------------------------


class TemplateProblem(Exception):
    """A template that cannot be used; ``line`` is the template line at fault, if known."""

    kind = "template_error"

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class TemplateSyntaxProblem(TemplateProblem):
    """The template does not parse, or uses a statement letters may not."""

    kind = "syntax_error"


class UnknownVariable(TemplateProblem):
    """The template names a variable (or attribute) that letter templates do not have."""

    kind = "undefined_variable"


class TemplateUnsafe(TemplateProblem):
    """The template reached for something the sandbox refuses."""

    kind = "security_error"


class TemplateTooExpensive(TemplateProblem):
    """The template loops too long, builds too much, or runs out of time."""

    kind = "too_expensive"


class TemplateRenderFailed(TemplateProblem):
    """Rendering failed some other way (a division by zero, a wrong type)."""

    kind = "render_error"


# --- the budget of one render ---------------------------------------------------------------


class _Budget:
    """What one render has spent so far: steps, work and time."""

    __slots__ = ("deadline", "sizes", "steps", "work")

    def __init__(self, seconds: float = MAX_SECONDS) -> None:
        self.steps = 0
        self.work = 0
        self.deadline = time.monotonic() + seconds
        # id -> (container, weight) of containers measured so far; holding the container
        # keeps its id from being reused while the render runs.
        self.sizes: dict[int, tuple[Any, int]] = {}

    def step(self, work: int = 0) -> None:
        self.steps += 1
        self.work += work
        if self.steps > MAX_STEPS:
            raise TemplateTooExpensive(
                f"The template runs more than {MAX_STEPS:,} loop iterations and calls."
            )
        self.spend(0)

    def spend(self, work: int) -> None:
        self.work += work
        if self.work > MAX_WORK:
            raise TemplateTooExpensive(
                f"The template produces more than {MAX_WORK:,} characters along the way."
            )
        if time.monotonic() > self.deadline:
            raise TemplateTooExpensive(f"The template took longer than {MAX_SECONDS:g} s.")


_BUDGET: contextvars.ContextVar[_Budget] = contextvars.ContextVar("letter_template_budget")


def _budget() -> _Budget:
    try:
        return _BUDGET.get()
    except LookupError:  # outside a render (never expected): a budget of its own
        return _Budget()


def weight(value: Any, limit: int = MAX_WEIGHT) -> int:
    """The size of a value in characters, a container counting its items; stops past ``limit``.

    The letter's variables (dataclasses) count their fields, and dict views their items.
    Shared references count each time they appear, because that is what printing them costs.
    Containers already measured in this render are not walked again (templates cannot change
    a container once built), so nesting a value in a literal costs its length, not its size.
    """
    known = _budget().sizes
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, list | tuple | set | frozenset | dict):
            seen = known.get(id(item))
            if seen is not None and seen[0] is item:
                total += seen[1]
            else:
                total += 2 + len(item)
                if isinstance(item, dict):
                    stack.extend(item.keys())
                    stack.extend(item.values())
                else:
                    stack.extend(item)
        elif isinstance(item, range):
            total += 2 + 8 * len(item)
        elif isinstance(item, KeysView | ValuesView | ItemsView):
            total += 2 + len(item)
            stack.extend(item)
        elif is_dataclass(item) and not isinstance(item, type):  # the letter's variables
            total += 2 + len(type(item).__name__)
            for field in fields(item):
                total += len(field.name) + 3
                stack.append(getattr(item, field.name))
        else:
            total += 8
        if total > limit:
            return total
    return total


def _bounded(value: Any, what: str) -> Any:
    """``value`` if it is no bigger than ``MAX_WEIGHT``; its size is charged to the budget."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > MAX_INT_BITS:
            raise TemplateTooExpensive(f"{what} gives a number over {MAX_INT_BITS} bits.")
        _budget().spend(1)
        return value
    size = weight(value)
    if size > MAX_WEIGHT:
        raise TemplateTooExpensive(f"{what} builds a value over {MAX_WEIGHT:,} characters.")
    budget = _budget()
    budget.spend(size)
    if isinstance(value, list | tuple | set | frozenset | dict):
        budget.sizes[id(value)] = (value, size)
    return value


def _length(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple) else weight(value)


def _check_percent(fmt: Any, values: Any, what: str) -> None:
    """Refuse ``fmt % values`` before it runs when it would build too much.

    Walks the format string as Python's own ``%`` does, left to right: literal text, then
    each conversion with its ``(key)``, flags, width and precision, where ``*`` takes the
    number from the arguments. Every width and precision is at most ``MAX_INT_ARG``, and the
    sizes of the pieces add up to at most ``MAX_WEIGHT``; a conversion of anything but a
    string or a number is measured by converting it once (it is bounded already). Where
    Python would fail, this fails first, with the same complaint, so nothing is left unchecked
    behind a conversion it did not understand. Linear in the length of ``fmt``.
    """
    if not isinstance(fmt, str):
        return
    _budget().spend(len(fmt))  # the walk reads all of it, as formatting will
    _PercentWalk(fmt, values, what).run()


class _PercentWalk:
    """One ``%`` formatting, measured before it runs (see :func:`_check_percent`)."""

    def __init__(self, fmt: str, values: Any, what: str) -> None:
        self.fmt = fmt
        self.what = what
        is_tuple = isinstance(values, tuple)
        # Python takes its arguments as CPython's PyUnicode_Format does: a tuple's items in
        # turn, anything else as the one argument; a ``(key)`` looks up any non-tuple,
        # non-string value that can be subscripted, and from then on only that value is left.
        self.mapping = (
            values
            if not is_tuple and not isinstance(values, str) and hasattr(type(values), "__getitem__")
            else None
        )
        self.args: Any = values
        self.count = len(values) if is_tuple else -1
        self.index = 0 if is_tuple else -2
        self.size = 0
        self.measured: dict[tuple[int, str], tuple[Any, int]] = {}

    def run(self) -> None:
        fmt, end, pos = self.fmt, len(self.fmt), 0
        while pos < end:
            percent = fmt.find("%", pos)
            if percent < 0:
                self._grow(end - pos)
                return
            self._grow(percent - pos)
            pos = percent + 1
            if pos < end and fmt[pos] == "%":
                self._grow(1)
                pos += 1
                continue
            pos = self._conversion(pos)

    def _grow(self, chars: int) -> None:
        self.size += chars
        if self.size > MAX_WEIGHT:
            raise TemplateTooExpensive(f"{self.what} would build over {MAX_WEIGHT:,} characters.")

    def _next(self) -> Any:
        if self.index >= self.count:
            raise TemplateRenderFailed("TypeError: not enough arguments for format string")
        self.index += 1
        return self.args if self.count < 0 else self.args[self.index - 1]

    def _number(self, pos: int, name: str) -> tuple[int, int]:
        """A width or precision at ``pos`` (digits or ``*``) and where it ends."""
        fmt = self.fmt
        if pos < len(fmt) and fmt[pos] == "*":
            value = self._next()
            if not isinstance(value, int):
                raise TemplateRenderFailed("TypeError: * wants int")
            number, pos = int(value), pos + 1
        else:
            start = pos
            while pos < len(fmt) and "0" <= fmt[pos] <= "9":
                pos += 1
                if pos - start > len(str(MAX_INT_ARG)):
                    break  # too many digits already: no need to read them all
            number = int(fmt[start:pos]) if pos > start else -1
        if abs(number) > MAX_INT_ARG:
            raise TemplateTooExpensive(f"{self.what} asks for a {name} over {MAX_INT_ARG:,}.")
        return number, pos

    def _conversion(self, pos: int) -> int:
        """Measure the conversion whose ``%`` is just before ``pos``; where it ends."""
        fmt, end = self.fmt, len(self.fmt)
        if pos < end and fmt[pos] == "(":
            if self.mapping is None:
                raise TemplateRenderFailed("TypeError: format requires a mapping")
            depth, start = 1, pos + 1
            pos = start
            while depth and pos < end:
                depth += {"(": 1, ")": -1}.get(fmt[pos], 0)
                pos += 1
            if depth:
                raise TemplateRenderFailed("ValueError: incomplete format key")
            self.args = self.mapping[fmt[start : pos - 1]]
            self.count, self.index = -1, -2
        while pos < end and fmt[pos] in "-+ #0":
            pos += 1
        width, pos = self._number(pos, "width")
        precision = -1
        if pos < end and fmt[pos] == ".":
            precision, pos = self._number(pos + 1, "precision")
            precision = max(precision, 0)
        if pos < end and fmt[pos] in "hlL":
            pos += 1
        if pos >= end:
            raise TemplateRenderFailed("ValueError: incomplete format")
        kind = fmt[pos]
        value = self._next()
        if kind in "sra":
            text = self._text_length(value, kind)
            piece = min(text, precision) if precision >= 0 else text
        elif kind == "c":
            piece = 1
        elif kind in "diouxXeEfFgG":
            # Digits (a float has at most 309 before its point), then room for a sign, a 0x,
            # a point, an exponent, and the precision (6 by default for e, f and g).
            digits = value.bit_length() // 3 + 1 if isinstance(value, int) else 310
            default = 6 if kind in "eEfFgG" else 0
            piece = digits + 10 + (precision if precision >= 0 else default)
        else:
            raise TemplateRenderFailed(
                f"ValueError: unsupported format character {kind!r} at index {pos}"
            )
        self._grow(max(abs(width), piece))
        return pos + 1

    def _text_length(self, value: Any, kind: str) -> int:
        """How long ``%s``/``%r``/``%a`` makes ``value``: measured once per value."""
        if kind == "s" and isinstance(value, str):
            return len(value)
        key = (id(value), kind)
        known = self.measured.get(key)
        if known is not None and known[0] is value:
            return known[1]
        _bounded(value, self.what)
        length = len(str(value) if kind == "s" else repr(value) if kind == "r" else ascii(value))
        self.measured[key] = (value, length)  # held, so that its id is not reused meanwhile
        return length


def _check_args(name: str, args: Iterable[Any]) -> None:
    """Widths, counts and separators of the filters that multiply by them stay small."""
    for arg in args:
        if isinstance(arg, bool):
            continue
        if isinstance(arg, int) and name in _SIZED_FILTERS and abs(arg) > MAX_INT_ARG:
            raise TemplateTooExpensive(
                f"The {name} filter was given {arg}; numbers there are at most {MAX_INT_ARG:,}."
            )
        if isinstance(arg, str) and name in _SEPARATED_FILTERS and len(arg) > MAX_STR_ARG:
            raise TemplateTooExpensive(
                f"The {name} filter was given a string of {len(arg):,} characters; "
                f"at most {MAX_STR_ARG:,} there."
            )


def _replaced_length(text: str, old: str, new: str, count: int = -1) -> int:
    occurrences = len(text) + 1 if old == "" else text.count(old)
    if count is not None and count >= 0:
        occurrences = min(occurrences, count)
    return len(text) + occurrences * max(0, len(new) - len(old))


def _too_big(estimate: int, what: str) -> None:
    if estimate > MAX_WEIGHT:
        raise TemplateTooExpensive(f"{what} would build over {MAX_WEIGHT:,} characters.")


def _precheck_filter(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Estimates for the filters whose output can dwarf their input."""
    value = args[0] if args else None
    rest = args[1:]
    _check_args(name, (*rest, *kwargs.values()))
    text = value if isinstance(value, str) else None
    if name == "join" and value is not None and not isinstance(value, str):
        separator = rest[0] if rest else kwargs.get("d", "")
        items = weight(value)
        count = len(value) if hasattr(value, "__len__") else items
        _too_big(items + len(str(separator)) * count, "join")
    elif name == "replace" and text is not None and len(rest) >= 2:
        count = rest[2] if len(rest) > 2 else kwargs.get("count", -1)
        _too_big(
            _replaced_length(text, str(rest[0]), str(rest[1]), count if count else -1), "replace"
        )
    elif name == "indent" and text is not None:
        width = rest[0] if rest else kwargs.get("width", 4)
        per_line = width if isinstance(width, int) else len(str(width))
        _too_big(len(text) + per_line * (text.count("\n") + 1), "indent")
    elif name == "wordwrap" and text is not None:
        width = rest[0] if rest else kwargs.get("width", 79)
        wrap = rest[2] if len(rest) > 2 else kwargs.get("wrapstring") or "\n"
        lines = len(text) // max(int(width), 1) + text.count("\n") + 1
        _too_big(len(text) + len(str(wrap)) * lines, "wordwrap")
    elif name == "format" and value is not None:
        text = value if isinstance(value, str) else str(_bounded(value, "format"))
        _check_percent(text, kwargs or tuple(rest), "The format filter")


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a filter: arguments checked first, the result measured and charged after.

    Marked ``pass_context`` so the compiler never folds a call at compile time.
    """
    takes = PassArg.from_obj(func)

    @pass_context
    def guarded(context: Context, *args: Any, **kwargs: Any) -> Any:
        _budget().step()
        _precheck_filter(name, args, kwargs)
        if takes is PassArg.context:
            result = func(context, *args, **kwargs)
        elif takes is PassArg.eval_context:
            result = func(context.eval_ctx, *args, **kwargs)
        elif takes is PassArg.environment:
            result = func(context.environment, *args, **kwargs)
        else:
            result = func(*args, **kwargs)
        if isinstance(result, Iterator):  # map, select …: measure what they give
            result = list(result)
        return _bounded(result, f"The {name} filter")

    guarded.__name__ = f"guarded_{name}"
    return guarded


def _guarded_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateTooExpensive(
            f"range() gives at most {MAX_RANGE:,} numbers; this one gives {len(numbers):,}."
        )
    return numbers


class _LetterNamespace(Namespace):
    """``namespace()`` in letter templates: it cannot be turned into text.

    Its attributes are out of sight of :func:`weight`, so the text of a namespace (and of a
    list holding it many times) cannot be measured before it is made; templates print its
    attributes instead.
    """

    def __repr__(self) -> str:
        raise TemplateRenderFailed("A namespace cannot be printed; print its attributes.")


# --- the environment ----------------------------------------------------------------------


class _Guards(NodeTransformer):
    """Route loops, ``~`` and literals through the environment's guards."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        literal = sum(len(data.data) for data in _direct_data(node.body))
        iterable = node.iter
        assert isinstance(iterable, nodes.Expr)
        node.iter = _guard_call("guard_loop", [iterable, nodes.Const(literal)], iterable)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _guard_call("guard_concat", list(node.nodes), node)

    def visit_List(self, node: nodes.List) -> nodes.Node:
        self.generic_visit(node)
        return _guard_call("guard_list", list(node.items), node)

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        self.generic_visit(node)
        if node.ctx != "load":
            return node
        return _guard_call("guard_tuple", list(node.items), node)

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        self.generic_visit(node)
        flat: list[nodes.Expr] = []
        for pair in node.items:
            flat.extend((pair.key, pair.value))
        return _guard_call("guard_dict", flat, node)


def _direct_data(body: list[nodes.Node]) -> Iterator[nodes.TemplateData]:
    """Literal text in a loop body, except inside nested loops (they count their own)."""
    for child in body:
        if isinstance(child, nodes.TemplateData):
            yield child
        elif isinstance(child, nodes.For):
            continue
        else:
            yield from _direct_data(list(child.iter_child_nodes()))


def _guard_call(name: str, args: list[nodes.Expr], where: nodes.Node) -> nodes.Call:
    call = nodes.Call(nodes.EnvironmentAttribute(name), args, [], None, None)
    call.set_lineno(where.lineno or 1)
    if where.environment is not None:
        call.set_environment(where.environment)
    return call


class LetterEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox letter templates run in (see the module docstring for its limits)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        super().__init__(
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            cache_size=0,
            finalize=self._finalize,
        )
        self.globals.pop("lipsum", None)
        self.globals["range"] = _guarded_range
        self.globals["namespace"] = _LetterNamespace
        for name in _DROPPED_FILTERS:
            self.filters.pop(name, None)
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}

    # --- the syntax tree, before code generation ---

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
            raise TemplateSyntaxError(
                "include, extends and import are not available in letter templates",
                node.lineno,
                name,
                filename,
            )
        guarded = _Guards().visit(tree)
        assert isinstance(guarded, nodes.Template)
        return guarded

    # --- what a template may touch ---

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, _NUMBER_TYPES):
            return False
        if isinstance(obj, str):
            return attr in _STR_METHODS
        if isinstance(obj, dict):
            return attr in _DICT_METHODS
        if isinstance(obj, list | tuple | range | set | frozenset):
            return attr in _SEQUENCE_METHODS
        return bool(super().is_safe_attribute(obj, attr, value))

    def wrap_str_format(self, value: Any) -> None:
        return None  # str.format is simply not available: is_safe_attribute refuses it

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _budget().step()
        bound_to = getattr(obj, "__self__", None)
        if isinstance(bound_to, str) and getattr(obj, "__name__", "") == "replace":
            old, new = (str(a) for a in args[:2]) if len(args) >= 2 else ("", "")
            count = args[2] if len(args) > 2 else kwargs.get("count", -1)
            _too_big(_replaced_length(bound_to, old, new, count), "replace")
        result = super().call(context, obj, *args, **kwargs)
        return _bounded(result, "A call")

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _budget().spend(1)
        if operator == "**":
            base, exponent = abs(left), right
            if isinstance(base, int) and isinstance(exponent, int) and base > 1:
                if exponent * base.bit_length() > MAX_INT_BITS:
                    raise TemplateTooExpensive(f"{left} ** {right} is too large a number.")
            elif isinstance(exponent, int | float) and abs(exponent) > MAX_INT_BITS:
                raise TemplateTooExpensive(f"{left} ** {right} is too large a number.")
        elif operator == "*":
            for seq, times in ((left, right), (right, left)):
                repeats = isinstance(times, int) and not isinstance(times, bool)
                if repeats and isinstance(seq, str | list | tuple):
                    _too_big(_length(seq) * max(times, 0), "Repeating with *")
                    if not isinstance(seq, str):
                        _too_big(weight(seq) * max(times, 0), "Repeating with *")
        elif operator == "%":
            _check_percent(left, right, "% formatting")
        elif operator == "+" and isinstance(left, str | list | tuple):
            _too_big(weight(left) + weight(right), "+")
        result = self.binop_table[operator](left, right)
        return _bounded(result, f"The {operator} operator")

    # --- guards the rewritten syntax tree calls ---

    @staticmethod
    def guard_loop(iterable: Any, literal: int) -> Iterator[Any]:
        budget = _budget()
        for item in iterable:
            budget.step(literal + 1)
            yield item

    @staticmethod
    def guard_concat(*parts: Any) -> str:
        texts = [p if isinstance(p, str) else str(_bounded(p, "~")) for p in parts]
        _too_big(sum(len(t) for t in texts), "~")
        return str(_bounded("".join(texts), "~"))

    @staticmethod
    def guard_list(*items: Any) -> list[Any]:
        return list(_bounded(list(items), "A list"))

    @staticmethod
    def guard_tuple(*items: Any) -> tuple[Any, ...]:
        return tuple(_bounded(items, "A tuple"))

    @staticmethod
    def guard_dict(*flat: Any) -> dict[Any, Any]:
        pairs = dict(zip(flat[::2], flat[1::2], strict=True))
        return dict(_bounded(pairs, "A dict"))

    # --- output ---

    @staticmethod
    def _finalize(value: Any) -> Any:
        """What ``{{ … }}`` prints: ``None`` prints as nothing; size is measured first."""
        if value is None:
            return ""
        if isinstance(value, Namespace):  # its size is hidden from weight(): print attributes
            raise TemplateRenderFailed("A namespace cannot be printed; print its attributes.")
        if isinstance(value, str):
            _budget().spend(len(value))
            return value
        size = weight(value, MAX_OUTPUT)
        if size > MAX_OUTPUT:
            raise TemplateTooExpensive(f"A value printed is over {MAX_OUTPUT:,} characters.")
        _budget().spend(size)
        return value


# Marked safe for the sandbox's call() check by being plain functions on the environment.
ENVIRONMENT = LetterEnvironment()


# --- compiling and rendering ------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """A rendered letter: the subject line (if the template gave one) and the body."""

    subject: str | None
    body: str


def check_source_size(source: str) -> None:
    """Refuse a template source over ``MAX_SOURCE`` characters."""
    if len(source) > MAX_SOURCE:
        raise TemplateTooExpensive(
            f"The template is {len(source):,} characters long; the limit is {MAX_SOURCE:,}."
        )


def parse(source: str) -> nodes.Template:
    """The template's syntax tree (guards included), or a syntax problem with its line."""
    check_source_size(source)
    try:
        return ENVIRONMENT.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateSyntaxProblem(exc.message or str(exc), exc.lineno) from None
    except TemplateProblem:
        raise
    except Exception as exc:  # the parser trips on something else: still the template's fault
        raise TemplateSyntaxProblem(str(exc)) from None


@lru_cache(maxsize=256)
def compile_template(source: str) -> Any:
    """Compile a template (cached by its source); syntax problems carry their line."""
    check_source_size(source)
    token = _BUDGET.set(_Budget())
    try:
        return ENVIRONMENT.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateSyntaxProblem(exc.message or str(exc), exc.lineno) from None
    except TemplateProblem:
        raise
    except Exception as exc:  # the compiler trips on something it parsed: still the template's
        raise TemplateSyntaxProblem(str(exc)) from None
    finally:
        _BUDGET.reset(token)


def render_text(source: str, variables: Mapping[str, Any], *, seconds: float = MAX_SECONDS) -> str:
    """Render a template to text within every limit, or raise a :class:`TemplateProblem`."""
    template = compile_template(source)
    token = _BUDGET.set(_Budget(seconds))
    chunks: list[str] = []
    size = 0
    stream = template.generate(dict(variables))
    try:
        for chunk in stream:
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateTooExpensive(
                    f"The letter would be over {MAX_OUTPUT:,} characters long."
                )
            _budget().spend(len(chunk))
            chunks.append(chunk)
    except TemplateProblem as exc:
        exc.line = exc.line or _template_line(exc.__traceback__)
        raise
    except SecurityError as exc:
        raise TemplateUnsafe(str(exc), _template_line(exc.__traceback__)) from None
    except UndefinedError as exc:
        raise UnknownVariable(_undefined_message(exc), _template_line(exc.__traceback__)) from None
    except (RecursionError, MemoryError, OverflowError) as exc:
        raise TemplateTooExpensive(
            f"The template ran out of room ({type(exc).__name__}).",
            _template_line(exc.__traceback__),
        ) from None
    except Exception as exc:
        raise TemplateRenderFailed(
            f"{type(exc).__name__}: {exc}", _template_line(exc.__traceback__)
        ) from None
    finally:
        stream.close()
        _BUDGET.reset(token)
    return "".join(chunks)


def render(source: str, variables: Mapping[str, Any], *, seconds: float = MAX_SECONDS) -> Rendered:
    """Render a letter template and split off its ``Subject:`` line."""
    return split_subject(render_text(source, variables, seconds=seconds))


_SUBJECT = re.compile(r"\A[ \t]*subject[ \t]*:[ \t]*(.*?)[ \t]*(?:\r?\n|\Z)", re.IGNORECASE)


def split_subject(text: str) -> Rendered:
    """A first line ``Subject: …`` is the subject; the rest (leading blank lines dropped) is
    the body. Without such a line, there is no subject and all of it is the body."""
    match = _SUBJECT.match(text)
    if match is None:
        return Rendered(None, text.strip("\n").rstrip() + ("\n" if text.strip() else ""))
    subject = match.group(1).strip() or None
    body = text[match.end() :].lstrip("\r\n").rstrip()
    return Rendered(subject, body + "\n" if body else "")


def _template_line(tb: TracebackType | None) -> int | None:
    """The innermost template line in a traceback (Jinja rewrites frames to template lines)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TEMPLATE_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _undefined_message(exc: UndefinedError) -> str:
    return str(exc.message) if getattr(exc, "message", None) else str(exc)
