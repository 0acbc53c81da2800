"""A JSON parser for Django REST framework that refuses what would break later.

DRF's own ``JSONParser`` hands ``json.loads`` whatever arrives: 100,000 nested
``[`` end in a ``RecursionError`` (a 500), and an escaped lone surrogate
(``"\\ud800"``) is a Python string that cannot be encoded, so it is stored and
breaks whoever reads it back. :class:`StrictJSONParser` answers both with a
``ParseError`` (400, a JSON message) before the view sees the data.

The sse API views use it; a project makes it the default for every DRF view with::

    REST_FRAMEWORK = {
        "DEFAULT_PARSER_CLASSES": [
            "sse.api.parsers.StrictJSONParser",
            "rest_framework.parsers.FormParser",
            "rest_framework.parsers.MultiPartParser",
        ],
    }
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

__all__ = ["MAX_JSON_DEPTH", "StrictJSONParser", "check_json_value"]

MAX_JSON_DEPTH = 64
"""How deeply arrays and objects may nest in a request body."""


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ParseError("JSON parse error - the body holds invalid Unicode (a lone surrogate)") from None


def check_json_value(value: Any, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise ``ParseError`` if ``value`` nests deeper than ``max_depth`` or holds a lone surrogate.

    Walks with a list, not recursion, so no input can exhaust the stack here.
    """
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, Mapping | list):
            if depth >= max_depth:
                raise ParseError(f"JSON parse error - arrays and objects nest deeper than {max_depth} levels")
            if isinstance(item, Mapping):
                for key, child in item.items():
                    _check_text(key)
                    pending.append((child, depth + 1))
            else:
                pending.extend((child, depth + 1) for child in item)


class StrictJSONParser(JSONParser):
    """DRF's ``JSONParser``, plus a depth limit and no lone surrogates: both are a 400."""

    max_depth = MAX_JSON_DEPTH

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(
                f"JSON parse error - arrays and objects nest deeper than {self.max_depth} levels"
            ) from None
        check_json_value(data, self.max_depth)
        return data
