"""Cost of one event on the event loop alone, by the number of pending timers.

W chains of plain callbacks (``Engine.after``) each re-arm a timer 15-45 s ahead until N events
ran, so about W entries are always pending: what W busy workers with 30 s tasks keep on the
queue. Prints microseconds per event. Usage:
``python bench/engine_pending.py [--events 2000000] [--pending 1000,10000,100000]``.
"""

from __future__ import annotations

import argparse
import random
import time

from schedsim.model.engine import Engine


def per_event_us(pending: int, events: int, seed: int = 1) -> float:
    rng = random.Random(seed)
    env = Engine()
    ran = [0]

    def step(_arg: object) -> None:
        ran[0] += 1
        if ran[0] < events:
            env.after(15.0 + 30.0 * rng.random(), step)

    for _ in range(pending):
        env.after(30.0 * rng.random(), step)
    start = time.perf_counter()
    env.run()
    return (time.perf_counter() - start) / ran[0] * 1e6


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--pending", default="1000,10000,100000")
    args = ap.parse_args()
    for pending in (int(p) for p in args.pending.split(",")):
        print(f"{pending:>8} pending: {per_event_us(pending, args.events):.3f} us per event",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
