"""Run Daphne with an access log that never shows stream tokens.

``python -m sse.daphne project.asgi:application -b 127.0.0.1 -p 8000``
takes Daphne's own arguments. Daphne logs each request's query string, and
``?token=`` is a credential for a few minutes: this writes ``token=[redacted]``.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from daphne.cli import CommandLineInterface
from daphne.server import Server

__all__ = ["main", "redact"]

_SECRET_PARAM = re.compile(r"((?:^|[?&])(?:token|access_token)=)[^&#\s]*", re.IGNORECASE)


def redact(path: str) -> str:
    return _SECRET_PARAM.sub(r"\1[redacted]", path)


class _RedactingLogger:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __call__(self, protocol: str, action: str, details: dict[str, Any]) -> None:
        if "path" in details:
            details = {**details, "path": redact(str(details["path"]))}
        self._inner(protocol, action, details)


class _Server(Server):
    def __init__(self, *args: Any, action_logger: Any = None, **kwargs: Any) -> None:
        if action_logger is not None:
            action_logger = _RedactingLogger(action_logger)
        super().__init__(*args, action_logger=action_logger, **kwargs)


class _CommandLineInterface(CommandLineInterface):
    server_class = _Server


def main(argv: list[str] | None = None) -> None:
    _CommandLineInterface().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
