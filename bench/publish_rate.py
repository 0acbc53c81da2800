"""publish() calls per second with the durable log, one transaction each.

``python -m bench.publish_rate project|eventstream COUNT`` with DJANGO_SETTINGS_MODULE
and a migrated database; prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

import django


def main() -> None:
    system, count = sys.argv[1], int(sys.argv[2])
    django.setup()
    if system == "project":
        import sse

        def send(number: int) -> None:
            sse.publish("bench.rate", {"b": number}, event="bench")
    else:
        from django_eventstream import send_event

        def send(number: int) -> None:
            send_event("bench", "bench", {"b": number})

    for number in range(20):  # warm up: connections, statements, head rows
        send(number)
    started = time.perf_counter()
    for number in range(count):
        send(number)
    seconds = time.perf_counter() - started
    print(json.dumps({"system": system, "count": count, "seconds": seconds, "per_second": count / seconds}))


if __name__ == "__main__":
    main()
