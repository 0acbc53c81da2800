"""A publisher process told what to publish, one event at a time: ``python -m tests.delivery.stepper``.

Reads commands on stdin, one a line, and answers on stdout, so a test decides the exact
order in which several processes publish:

- ``publish CHANNEL I``: publish ``{"p": "step", "i": I, "c": CHANNEL}`` on CHANNEL,
  then answer ``done I``.
- ``publish-late CHANNEL I``: the same, but after the commit the event waits: the
  process answers ``committed I`` and hands the event on (to its own hub and the
  channel layer) only when told ``send I``, then answers ``done I``. A publisher whose
  hand-off lags behind its commit (a busy process), made exact.
"""

from __future__ import annotations

import os
import sys


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.delivery.settings")
    import django

    django.setup()
    from django.db import transaction

    import sse

    _say("ready")
    for line in sys.stdin:
        command, channel, number = line.split()
        i = int(number)
        data = {"p": "step", "i": i, "c": channel}
        if command == "publish":
            sse.publish(channel, data, event="test")
        elif command == "publish-late":

            def wait(i: int = i) -> None:
                _say(f"committed {i}")
                assert sys.stdin.readline().split() == ["send", str(i)]

            with transaction.atomic():
                # on_commit callbacks run in the order they were registered: this one first.
                transaction.on_commit(wait)
                sse.publish(channel, data, event="test")
        else:
            raise SystemExit(f"unknown command {command!r}")
        _say(f"done {i}")


if __name__ == "__main__":
    main()
