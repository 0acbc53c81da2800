"""``python -m tests.cross_origin.publisher CHANNEL``: numbered events until its input ends.

Publishes ``tick`` events ``{"n": 0}``, ``{"n": 1}``, ... on CHANNEL, one every
``--every`` seconds, from a process of its own (the stream server finds them in
the event log). When its standard input is closed it stops and prints
``published N``.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("channel")
    parser.add_argument("--every", type=float, default=0.1, help="seconds between events")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.cross_origin.settings")
    import django

    django.setup()
    import sse

    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    count = 0
    while not done.is_set():
        sse.publish(args.channel, {"n": count}, event="tick")
        count += 1
        done.wait(args.every)
    print(f"published {count}", flush=True)


if __name__ == "__main__":
    main()
