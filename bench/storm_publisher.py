"""The storm's publisher: ``python -m bench.storm_publisher CHANNEL --rate 20 --stop-file F``.

Run with the project's interpreter and settings, on the server's database: each
``sse.publish()`` goes through the durable log from this process, so it goes on
while the server is down and the restarted server replays it. Events carry
``{"b": n}`` (n = 1, 2, ...); after each one it prints ``n <time.time()>``, the
moment the log had it, and it stops once the stop file exists.
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("channel")
    parser.add_argument("--rate", type=float, default=20.0, help="events per second")
    parser.add_argument("--stop-file", required=True)
    args = parser.parse_args()

    import django

    django.setup()
    import sse

    interval = 1 / args.rate
    number = 0
    next_at = time.monotonic()
    while not os.path.exists(args.stop_file):
        number += 1
        sse.publish(args.channel, {"b": number}, event="storm")
        print(number, time.time(), flush=True)
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    print("done", number, flush=True)


if __name__ == "__main__":
    main()
