"""A publisher process: ``python -m tests.delivery.publisher --tag p1 --count 1000 CH1 CH2 ...``.

Publishes ``count`` events spread at random over the channels, each carrying
``{"p": tag, "i": n, "c": channel}`` so a client can tell exactly what it got.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("channels", nargs="+")
    parser.add_argument("--tag", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--start", type=int, default=0, help="first value of i")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pad", type=int, default=0, help="bytes of filler per event")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between events")
    parser.add_argument("--go-file", default="", help="wait until this file exists, then start")
    parser.add_argument("--cycle", action="store_true", help="take the channels in turn, not at random")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.delivery.settings")
    import django

    django.setup()
    import sse

    rng = random.Random(args.seed)
    pad = "x" * args.pad
    if args.go_file:
        while not os.path.exists(args.go_file):
            time.sleep(0.01)
    for i in range(args.start, args.start + args.count):
        channel = args.channels[i % len(args.channels)] if args.cycle else rng.choice(args.channels)
        data: dict[str, object] = {"p": args.tag, "i": i, "c": channel, "t": time.time()}
        if pad:
            data["pad"] = pad
        sse.publish(channel, data, event="test")
        if args.delay:
            time.sleep(args.delay * rng.uniform(0.5, 1.5))
    print(f"published {args.count}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
