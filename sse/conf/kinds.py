"""The kinds of value a setting takes: what each accepts, and what it says about the rest.

A kind is asked twice: by the system check (``problems()``: one message per thing wrong,
worded "NAME = value is ...; expected ...") and by ``conf`` the first time a setting is read
(``convert()``, only when there is no problem). Nothing here coerces a wrong value.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ABOVE_0",
    "AT_LEAST_0",
    "FRACTION",
    "SHARE",
    "AuthenticationClasses",
    "Bound",
    "EventLogConfig",
    "Integer",
    "Kind",
    "Number",
    "Patterns",
    "Text",
    "a_type",
    "load",
]


@dataclass(frozen=True, slots=True)
class Bound:
    """A range, as the messages name it (``"> 0"``), and its test."""

    label: str
    holds: Callable[[int | float], bool]


AT_LEAST_0 = Bound(">= 0", lambda value: value >= 0)
ABOVE_0 = Bound("> 0", lambda value: value > 0)
FRACTION = Bound("between 0 and 1", lambda value: 0 <= value <= 1)
SHARE = Bound("above 0, at most 1", lambda value: 0 < value <= 1)


def a_type(value: object) -> str:
    """``'an int'``, ``'a str'``: the type of ``value`` with its article."""
    name = type(value).__name__
    return f"{'an' if name[:1] in 'aeiouAEIOU' else 'a'} {name}"


def wrong_type(name: str, value: object, expected: str) -> str:
    return f"{name} = {value!r} is {a_type(value)}; expected {expected}."


def load(path: str, name: str) -> tuple[object, str]:
    """``path.name`` imported, or why it cannot be."""
    try:
        module = importlib.import_module(path)
    except ModuleNotFoundError as exc:
        if exc.name and (path == exc.name or path.startswith(exc.name + ".")):
            return None, f"there is no module {exc.name!r}"
        # The module exists; something it imports does not.
        return None, f"importing {path!r} raised ModuleNotFoundError: {exc}"
    except Exception as exc:
        return None, f"importing {path!r} raised {type(exc).__name__}: {exc}"
    if not hasattr(module, name):
        return None, f"module {path!r} has no attribute {name!r}"
    return getattr(module, name), ""


class Kind[T]:
    """What a setting accepts. ``expected`` is its wording in messages and hints."""

    expected = "a value"

    def problems(self, name: str, value: object) -> list[str]:
        raise NotImplementedError

    def convert(self, value: Any) -> T:
        """The value readers get, from a value without problems (a number as its type)."""
        converted: T = value
        return converted

    def advice(self, name: str) -> str:
        """What the hint adds to "give it <expected>, or delete it"."""
        return ""


class Integer(Kind[int]):
    def __init__(self, bound: Bound) -> None:
        self.bound = bound
        self.expected = f"an integer {bound.label}"

    def problems(self, name: str, value: object) -> list[str]:
        # bool is an int to Python, never to a person writing settings.
        if isinstance(value, bool) or not isinstance(value, int):
            return [wrong_type(name, value, self.expected)]
        if not self.bound.holds(value):
            return [f"{name} = {value!r} is out of range; expected {self.expected}."]
        return []

    def advice(self, name: str) -> str:
        return _FROM_ENVIRONMENT.format(name=name, type="int")


class Number(Kind[float]):
    """An int or a float, read as a float."""

    def __init__(self, bound: Bound) -> None:
        self.bound = bound
        self.expected = f"a number {bound.label}"

    def problems(self, name: str, value: object) -> list[str]:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return [wrong_type(name, value, self.expected)]
        if not self.bound.holds(value):  # nan holds no bound
            return [f"{name} = {value!r} is out of range; expected {self.expected}."]
        return []

    def convert(self, value: Any) -> float:
        return float(value)

    def advice(self, name: str) -> str:
        return _FROM_ENVIRONMENT.format(name=name, type="float")


_FROM_ENVIRONMENT = (
    " Settings are Python values: convert what comes from the environment in settings.py"
    " ({name} = {type}(os.environ['{name}']))."
)


class Text(Kind[str]):
    def __init__(self, expected: str) -> None:
        self.expected = expected

    def problems(self, name: str, value: object) -> list[str]:
        return [] if isinstance(value, str) else [wrong_type(name, value, self.expected)]


class Patterns(Kind[Sequence[str]]):
    """A list or tuple of regular expressions."""

    expected = "a list or tuple of regular expressions"

    def problems(self, name: str, value: object) -> list[str]:
        if not isinstance(value, list | tuple):
            # A bare string would be read one character at a time: nearly every path a stream.
            return [wrong_type(name, value, self.expected)]
        problems = []
        for index, pattern in enumerate(value):
            item = f"{name}[{index}]"
            if not isinstance(pattern, str):
                problems.append(wrong_type(item, pattern, "a regular expression (a str)"))
                continue
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(f"{item} = {pattern!r} is not a valid regular expression: {exc}.")
        return problems


class EventLogConfig(Kind[dict[str, Any]]):
    """Like ``CACHES``' entries: ``{"BACKEND": "dotted.path", "OPTIONS": {...}}``; None is ``{}``."""

    expected = "a dict {'BACKEND': 'dotted.path.EventLog', 'OPTIONS': {...}}"

    def problems(self, name: str, value: object) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, dict):
            return [wrong_type(name, value, self.expected)]
        problems = [
            f"{name} has an unknown key {key!r}; expected {self.expected}."
            for key in value
            if key not in ("BACKEND", "OPTIONS")
        ]
        options = value.get("OPTIONS", {})
        if not isinstance(options, dict):
            problems.append(wrong_type(f"{name}['OPTIONS']", options, "a dict of the backend's arguments"))
        backend = value.get("BACKEND")
        if backend is not None:
            problems.extend(self._backend_problems(f"{name}['BACKEND']", backend))
        return problems

    @staticmethod
    def _backend_problems(name: str, backend: object) -> list[str]:
        if not isinstance(backend, str):
            return [wrong_type(name, backend, "the dotted path of an EventLog class")]
        path, _, attribute = backend.rpartition(".")
        if not path or not attribute:
            return [f"{name} = {backend!r} is not a dotted path 'module.EventLogClass'."]
        loaded, reason = load(path, attribute)
        if reason:
            return [f"{name} = {backend!r} cannot be imported: {reason}; expected an EventLog class."]
        if not callable(loaded):
            return [f"{name} = {backend!r} is {a_type(loaded)}; expected an EventLog class."]
        return []

    def convert(self, value: Any) -> dict[str, Any]:
        config: dict[str, Any] = value or {}
        return config


class AuthenticationClasses(Kind[Sequence[str | type] | None]):
    """Django REST framework authentication classes (dotted paths or classes), or None."""

    expected = "a list of DRF authentication classes (dotted paths), or None for the API's own"

    def problems(self, name: str, value: object) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            return [wrong_type(name, value, self.expected)]
        problems = []
        for index, item in enumerate(value):
            problem = self._class_problem(item)
            if problem:
                problems.append(f"{name}[{index}] = {item!r} {problem}.")
        return problems

    @staticmethod
    def _class_problem(item: object) -> str:
        if isinstance(item, str):
            path, _, attribute = item.rpartition(".")
            item, reason = load(path, attribute) if path else (None, "it is not a dotted path")
            if reason:
                return f"cannot be imported ({reason})"
        if not isinstance(item, type) or not callable(getattr(item, "authenticate", None)):
            return "is not an authentication class (a class with an authenticate(request) method)"
        return ""

    def advice(self, name: str) -> str:
        return " Name them as in REST_FRAMEWORK's DEFAULT_AUTHENTICATION_CLASSES."
