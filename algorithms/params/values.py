"""Reading one parameter value: the scalar readers (accepting the string forms a CLI or a form sends), the
problems a value can have, and how each is worded — beside a form's field (``catalog.forms``, the dashboard)
and in a training job's log (``Algorithm.resolve_params``).

Also ``quote``, the one way a value of the user's input appears in any message: a short excerpt with its full
length, so a message is never the size of the input (``catalog.errors`` and ``algorithms.base.contracts``
re-export it). Standard library only: the catalog imports this without the algorithms' dependencies.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable
from typing import Any, Literal

# Longest excerpt of one quoted value; containers show their first few items, each cut alike.
QUOTE_CHARS = 120

_reprs = reprlib.Repr()
_reprs.maxstring = _reprs.maxother = _reprs.maxlong = QUOTE_CHARS
_reprs.maxlist = _reprs.maxtuple = _reprs.maxdict = _reprs.maxset = 6
_reprs.maxlevel = 3

Wording = Literal["form", "log"]
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})

# problem: (as a form says it beside the field, as a job log says it). ``{label}`` is the field's name, or
# "name item i" for one item of a list; the other facts are already quoted.
MESSAGES: dict[str, tuple[str, str]] = {
    "required": ("{label}: a value is required", "{label} needs a value"),
    "not_bool": (
        "{label}: {value} is not a boolean (true or false)",
        "{label} must be true or false, got {value}",
    ),
    "not_int": ("{label}: {value} is not an integer", "{label} must be an integer, got {value}"),
    "not_number": ("{label}: {value} is not a number", "{label} must be a number, got {value}"),
    "not_finite": ("{label}: {value} is not a finite number", "{label} must be a finite number, got {value}"),
    "not_str": ("{label}: {value} is not a string", "{label} must be a string, got {value}"),
    "below": (
        "{label}: {value} is below the minimum {min}",
        "{label} must be in [{min}, {max}], got {value}",
    ),
    "above": (
        "{label}: {value} is above the maximum {max}",
        "{label} must be in [{min}, {max}], got {value}",
    ),
    "not_option": (
        "{label}: {value} is not one of {options}",
        "{label} must be one of [{options}], got {value}",
    ),
    "not_list": (
        "{label}: expected a list of {item_type} values",
        "{label} must be a list of {item_type} values, got {value}",
    ),
    "not_regex_list": (
        "{label}: expected a list of regular expressions",
        "{label} must be a list of regular expressions, got {value}",
    ),
    "item_not_str": (
        "{label}: item {item} ({value}) is not a string",
        "{label} item {item} must be a string, got {value}",
    ),
    "bad_regex": (
        "{label}: item {item} ({value}) is not a valid regular expression: {error}",
        "{label} regex {value} is invalid: {error}",
    ),
    "inactive": ("{label}: only applies when {conditions}", "{label} only applies when {conditions}"),
}


def quote(value: Any, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)`` cut to about ``limit`` characters; a cut string says its full length. Never builds the
    full repr of a long value (a 200 MB cell would otherwise become a 200 MB message)."""
    if isinstance(value, str | bytes | bytearray):
        if len(value) <= limit:
            return repr(value)
        unit = "characters" if isinstance(value, str) else "bytes"
        return f"{value[:limit]!r}… ({len(value)} {unit})"
    return _reprs.repr(value)


class InvalidValue(ValueError):
    """One value refused: ``problem`` (a key of ``MESSAGES``) and the facts its message needs. ``str()`` is
    the form's wording; ``say("log")`` the job log's."""

    def __init__(self, problem: str, label: str, **facts: Any) -> None:
        self.problem, self.label, self.facts = problem, label, facts
        super().__init__(self.say("form"))

    def say(self, wording: Wording) -> str:
        form, log = MESSAGES[self.problem]
        return (form if wording == "form" else log).format(label=self.label, **self.facts)


def same(a: Any, b: Any) -> bool:
    """Equal, and both booleans or neither: True == 1 in Python, but a bool option only matches a bool."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def read_bool(value: Any, label: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise InvalidValue("not_bool", label, value=quote(value))


def read_int(value: Any, label: str) -> int:
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text) if "." in text or "e" in text.lower() else int(text)
        except ValueError:
            raise InvalidValue("not_int", label, value=quote(value)) from None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if is_number(value) and isinstance(value, int):
        return value
    raise InvalidValue("not_int", label, value=quote(value))


def read_float(value: Any, label: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise InvalidValue("not_number", label, value=quote(value)) from None
    if is_number(value) and math.isfinite(value):
        return float(value)
    raise InvalidValue("not_finite", label, value=quote(value))


def read_str(value: Any, label: str) -> str:
    if isinstance(value, str):
        return value
    raise InvalidValue("not_str", label, value=quote(value))


# A field's (or a list item's) type → its reader.
SCALARS: dict[str, Callable[[Any, str], Any]] = {
    "bool": read_bool,
    "int": read_int,
    "float": read_float,
    "str": read_str,
}
