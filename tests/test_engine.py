"""The Engine runs SimPy models exactly as simpy.Environment does, plus plain callbacks."""

from __future__ import annotations

import ast
import random
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
import simpy

from schedsim.model.engine import Engine, RealtimeEngine


def _script(env: simpy.Environment, order: list[tuple[float, str]],
            use_callbacks: bool) -> None:
    """Timers at colliding times, processes, and events triggered from callbacks."""
    rnd = random.Random(7)

    def note(name: str) -> None:
        order.append((env.now, name))

    def timer(delay: float, name: str) -> None:
        if use_callbacks:
            env.after(delay, note, name)  # type: ignore[attr-defined]  # an Engine here
        else:
            env.timeout(delay).callbacks.append(lambda _e: note(name))

    def proc(i: int) -> Generator[simpy.Event, Any, None]:
        for j in range(5):
            yield env.timeout(rnd.choice([0.0, 0.5, 1.0]))
            note(f"p{i}.{j}")
            if j == 2:
                ev = env.event()
                timer(0.5, f"t{i}.{j}")
                env.timeout(0.5).callbacks.append(lambda _e, ev=ev: ev.succeed(i))
                value = yield ev
                note(f"p{i} got {value}")

    for i in range(4):
        env.process(proc(i))
    for k in range(30):
        timer(rnd.choice([0.0, 0.5, 1.0, 1.5]), f"t{k}")


def test_order_matches_simpy_with_timeouts() -> None:
    expected: list[tuple[float, str]] = []
    env = simpy.Environment()
    _script(env, expected, use_callbacks=False)
    env.run()
    got: list[tuple[float, str]] = []
    eng = Engine()
    _script(eng, got, use_callbacks=True)
    eng.run()
    assert got == expected
    assert len(got) == 30 + 4 * 5 + 4 * 2


def test_run_until_a_time_then_resume() -> None:
    env = Engine()
    seen: list[float] = []
    for t in (1.0, 2.0, 3.0, 4.0):
        env.after(t, seen.append, t)
    env.run(until=2.5)
    assert env.now == 2.5 and seen == [1.0, 2.0]
    env.run()
    assert seen == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(ValueError):
        env.run(until=1.0)


def test_run_until_an_event_returns_its_value() -> None:
    env = Engine()
    done = env.event()
    env.after(3.0, done.succeed, "finished")
    env.after(9.0, lambda _a: None)
    assert env.run(until=done) == "finished"
    assert env.now == 3.0
    assert env.run(until=done) == "finished"  # already processed


def test_until_event_never_triggered_is_an_error() -> None:
    env = Engine()
    env.after(1.0, lambda _a: None)
    with pytest.raises(RuntimeError, match="No scheduled events left"):
        env.run(until=env.event())


def test_failures_propagate_as_in_simpy() -> None:
    env = Engine()

    def bad() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(1.0)
        raise KeyError("boom")

    env.process(bad())
    with pytest.raises(KeyError, match="boom"):
        env.run()
    env2 = Engine()
    ev = env2.event()
    ev.fail(ValueError("failed"))
    with pytest.raises(ValueError, match="failed"):
        env2.run()
    env3 = Engine()
    ev3 = env3.event()
    ev3.fail(ValueError("defused"))
    ev3.defused = True
    env3.run()  # a defused failure does not crash


def test_step_and_peek() -> None:
    env = Engine()
    out: list[int] = []
    env.after(2.0, out.append, 2)
    env.timeout(1.0).callbacks.append(lambda _e: out.append(1))
    assert env.peek() == 1.0
    env.step()
    env.step()
    assert out == [1, 2] and env.peek() == float("inf")
    with pytest.raises(simpy.core.EmptySchedule):
        env.step()


def test_realtime_engine_waits_for_the_wall_clock() -> None:
    env = RealtimeEngine(factor=0.02)
    stamps: list[float] = []
    for t in (1.0, 2.0, 3.0):
        env.after(t, lambda _a: stamps.append(time.monotonic()))
    start = time.monotonic()
    env.sync()
    env.run()
    assert len(stamps) == 3
    assert stamps[-1] - start >= 3 * 0.02 * 0.99


def _random_timers(env: simpy.Environment, order: list[tuple[float, int]], use_callbacks: bool,
                   n: int) -> None:
    """Bursts of timers from microseconds to days, equal times, and timers set by timers."""
    rnd = random.Random(11)
    scales = [0.0, 1e-6, 1e-3, 0.05, 1.0, 30.0, 3600.0, 86400.0 * 30]

    def fired(k: int) -> None:
        order.append((env.now, k))
        if k % 3 == 0 and k < n:  # a timer that sets another one
            later(rnd.choice(scales) * rnd.random(), k + n)

    def later(delay: float, k: int) -> None:
        if use_callbacks:
            env.after(delay, fired, k)
        else:
            env.timeout(delay).callbacks.append(lambda _e: fired(k))

    for k in range(n):
        later(rnd.choice(scales) * rnd.choice([0.0, 0.5, 1.0, rnd.random()]), k)


@pytest.mark.parametrize("target", [256, 4])
def test_calendar_pops_in_heap_order_across_resizes(monkeypatch: pytest.MonkeyPatch,
                                                    target: int) -> None:
    import schedsim.model.engine as engine

    monkeypatch.setattr(engine, "BUCKET_TARGET", target)
    monkeypatch.setattr(engine, "RESIZE_EVERY", 8)
    expected: list[tuple[float, int]] = []
    env = simpy.Environment()
    _random_timers(env, expected, use_callbacks=False, n=20_000)
    env.run()
    got: list[tuple[float, int]] = []
    eng = Engine()
    _random_timers(eng, got, use_callbacks=True, n=20_000)
    eng.run()
    assert got == expected
    assert eng.resizes > 0  # the width changed at least once on the way


def test_infinite_times_come_last() -> None:
    env = Engine()
    out: list[float] = []
    env.after(float("inf"), out.append, float("inf"))
    env.after(5.0, out.append, 5.0)
    env.run(until=100.0)
    assert out == [5.0]
    env.run()
    assert out == [5.0, float("inf")] and env.now == float("inf")


# SimPy's private fields (Environment, Event, Process, Condition) and the Engine's own queue:
# only schedsim/model/engine.py may touch them; everything else goes through at / after /
# cancel / now / scheduled.
PRIVATE = {"_now", "_queue", "_eid", "_active_proc", "_push", "_ok", "_value", "_defused",
           "_generator", "_target", "_evaluate", "_events", "_buckets", "_order", "_cur",
           "_inv", "_width"}


def private_uses(source: str, name: str) -> list[str]:
    """``file:line .field`` for each attribute access of a private engine field."""
    return sorted(f"{name}:{node.lineno} .{node.attr}" for node in ast.walk(ast.parse(source))
                  if isinstance(node, ast.Attribute) and node.attr in PRIVATE)


def test_only_the_engine_touches_simpy_private_fields() -> None:
    package = Path(__file__).resolve().parents[1] / "schedsim"
    engine = package / "model" / "engine.py"
    found = [use for path in sorted(package.rglob("*.py")) if path != engine
             for use in private_uses(path.read_text(), str(path.relative_to(package)))]
    assert not found, "use Engine.at/after/cancel/now/scheduled instead:\n" + "\n".join(found)


def test_the_private_field_check_sees_a_hand_copied_push() -> None:
    pushed = "env._push((t, NORMAL, next(env._eid), fn, arg))\nt = self.env._now\n"
    assert private_uses(pushed, "m.py") == ["m.py:1 ._eid", "m.py:1 ._push", "m.py:2 ._now"]
    assert private_uses("env.at(t, fn, arg)\nt = env.now\n", "m.py") == []


def test_at_runs_at_a_time_and_refuses_the_past() -> None:
    env = Engine()
    seen: list[tuple[float, str]] = []
    env.after(1.0, lambda a: seen.append((env.now, a)), "after 1")
    env.at(0.5, lambda a: seen.append((env.now, a)), "at 0.5")
    env.at(1.0, lambda a: seen.append((env.now, a)), "at 1, scheduled later")
    env.run()
    assert seen == [(0.5, "at 0.5"), (1.0, "after 1"), (1.0, "at 1, scheduled later")]
    with pytest.raises(ValueError, match="clock is at 1.0"):
        env.at(0.25, seen.append)
    assert env.scheduled == 3 and env.scheduled == 3  # reading it takes no id


def test_cancel_calls_nothing_and_keeps_the_rest_in_order() -> None:
    env = Engine()
    out: list[int] = []
    handles = [env.after(t, out.append, i) for i, t in enumerate([3.0, 1.0, 2.0, 1.0, 500.0])]
    assert env.cancel(handles[3]) and env.cancel(handles[4])  # one now, one in a later bucket
    assert not env.cancel(handles[3])  # already cancelled
    env.after(1.5, lambda _a: out.append(env.cancel(handles[1])))  # 1 already ran: False
    env.run()
    assert out == [1, False, 2, 0]
    assert env.now == 500.0  # a cancelled entry is still popped at its time
