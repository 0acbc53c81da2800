"""The ASGI ``http`` scope of one request, for tests that call a handler directly."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def http_scope(
    path: str, *, method: str = "GET", query: bytes = b"", headers: Iterable[tuple[bytes, bytes]] = ()
) -> dict[str, Any]:
    """A request for ``path`` on ``testserver`` (its ``Host`` header first, then ``headers``)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
