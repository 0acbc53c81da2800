"""The test page's own backend: mints stream tokens with ``sse.auth.tokens.issue_token``.

``python -m tests.cross_origin.mint`` runs with the stream server's settings and
``SECRET_KEY``, as a backend sharing them would. It reads one JSON request a line,
``{"user": pk, "channels": [...]}``, and answers each with a line
``{"token": ..., "expires_at": ...}``, until its input ends.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.cross_origin.settings")
    import django

    django.setup()
    from sse.auth.tokens import issue_token

    for line in sys.stdin:
        request = json.loads(line)
        token = issue_token(request["user"], request["channels"])
        answer = {"token": token.token, "expires_at": token.expires_at.isoformat()}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
