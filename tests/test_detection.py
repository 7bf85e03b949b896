"""The shared loss detection (schedsim/platforms/detection.py): each test fails if its
mechanism is removed, or if a platform finds its lost nodes some other way."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from schedsim.model.cluster import Node
from schedsim.platforms.detection import DetectionLaw, LossDetection
from schedsim.rng import Streams
from schedsim.simulation import Simulation

from .conftest import make
from .test_platforms import doomed, run

PLATFORMS_DIR = Path(__file__).resolve().parents[1] / "schedsim" / "platforms"


def context() -> Any:
    sim = Simulation(make({"platform": {"type": "ideal"}}, drop=("churn",)))
    return sim.platform.ctx


def node(node_id: int) -> Node:
    return Node(node_id, "p", 1, 0.0, 0.0)


def test_the_law_is_the_platforms_formula_to_the_last_bit() -> None:
    """Work Queue: timeout + interval x U; Ray: U(0, period) + f x timeout + (f - 1) x period,
    added in that order (the golden values depend on it)."""
    wq = DetectionLaw((30.0,), 120.0, "s")
    period, timeout, f = 0.7, 1.3, 7
    ray = DetectionLaw((f * timeout, (f - 1) * period), period, "s")
    a, b = np.random.default_rng(1), np.random.default_rng(1)
    for _ in range(20_000):
        assert wq.delay(a) == 30.0 + 120.0 * float(b.random())
        assert ray.delay(a) == float(b.uniform(0.0, period)) + f * timeout + (f - 1) * period
    # Terms added one by one, not compensated (sum() of floats is, from Python 3.12 on).
    assert DetectionLaw((1.0, 1e-16, 1e-16)).delay(None) == (1.0 + 1e-16) + 1e-16


def test_a_law_without_a_stream_draws_nothing() -> None:
    ctx = context()
    detection = LossDetection(ctx, DetectionLaw((3.0,)), lambda n: None)
    assert detection.law.delay(None) == 3.0
    with pytest.raises(ValueError, match="random stream"):
        LossDetection(ctx, DetectionLaw((3.0,), 1.0), lambda n: None)


def test_an_abrupt_loss_is_found_after_the_drawn_delay_from_its_stream() -> None:
    ctx = context()
    found: list[tuple[int, float]] = []
    detection = LossDetection(ctx, DetectionLaw((30.0,), 120.0, "workqueue/keepalive"),
                              lambda n: found.append((n.id, ctx.env.now)))
    ctx.env.at(5.0, lambda _: detection.lost(node(1)))
    ctx.env.run()
    same = Streams(ctx.streams.seed, ctx.streams.replication)  # a fresh copy of the stream
    u = float(same.get("workqueue/keepalive").random())
    assert found == [(1, 5.0 + (30.0 + 120.0 * u))]


def test_a_clean_shutdown_is_reported_at_once() -> None:
    ctx = context()
    found: list[int] = []
    detection = LossDetection(ctx, DetectionLaw((1e9,)), lambda n: found.append(n.id))
    detection.lost(node(4), clean=True)
    assert found == [4]  # before the clock moves: no event in between
    ctx.env.run()
    assert ctx.env.now == 0.0


def test_each_node_is_reported_once() -> None:
    ctx = context()
    found: list[tuple[int, float]] = []
    detection = LossDetection(ctx, DetectionLaw((2.0,)),
                              lambda n: found.append((n.id, ctx.env.now)))
    a, b = node(1), node(2)
    detection.lost(a)
    detection.lost(a)
    detection.lost(a, clean=True)
    detection.lost(b, clean=True)
    detection.lost(b)
    ctx.env.run()
    assert found == [(2, 0.0), (1, 2.0)]


# Each platform's fixed start-up overheads, whatever the calibration profile says.
OPTIONS: dict[str, dict[str, Any]] = {
    "workqueue": {"worker_connect_time": "0.05s", "dispatch_time": 0, "retrieval_time": 0},
    "ray": {"worker_start_time": "1s", "lease_latency": "1ms"},
    "zmq": {"worker_start_time": "1s", "dispatch_time": 0, "result_time": 0}}


@pytest.mark.parametrize("platform", ["workqueue", "ray", "zmq"])
def test_every_platform_finds_a_silent_loss_through_it(platform: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """One 100 s task on a node lost abruptly at 10 s: with every law's delay made 500 s, the
    task ends after 10 + 500 + 100 s on each platform. A platform that drew its own delay
    would finish some 400 s earlier."""
    monkeypatch.setattr(DetectionLaw, "delay", lambda self, rng: 500.0)
    result = run(platform, OPTIONS[platform], **doomed("0s"))
    assert result.metrics["tasks_completed"] == 1
    assert 610.0 <= result.metrics["makespan_s"] <= 612.0


@pytest.mark.parametrize("platform,clean", [("workqueue", True), ("ray", True),
                                            ("zmq", False)])
def test_every_platform_reports_a_shutdown_through_it(platform: str, clean: bool,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The node is noticed 5 s before it goes: Work Queue and Ray are told of the clean
    shutdown at once; zmq's ROUTER socket sees no close, so it waits for the heartbeats."""
    calls: list[tuple[int, bool]] = []
    lost = LossDetection.lost

    def recording(self: LossDetection, node: Node, clean: bool = False) -> None:
        calls.append((node.id, clean))
        lost(self, node, clean)

    monkeypatch.setattr(LossDetection, "lost", recording)
    result = run(platform, OPTIONS[platform], **doomed("5s"))
    assert result.metrics["tasks_completed"] == 1
    assert calls == [(0, clean)]  # the doomed pool's node, launched first


# The parameters of the three laws: a platform model reads them only to build its law.
LAW_PARAMETERS = {"keepalive_interval", "keepalive_timeout", "health_check_period",
                  "health_check_timeout", "health_check_failures", "detection_delay"}


def _own_delays(tree: ast.AST) -> list[str]:
    """Random draws, named streams, and law parameters read outside a ``DetectionLaw(...)``
    and its arguments, in a module's syntax tree."""
    in_law = {id(n) for call in ast.walk(tree) if isinstance(call, ast.Call)
              and ast.unparse(call.func) == "DetectionLaw" for n in ast.walk(call)}
    found = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and (
                n.func.attr in ("random", "uniform", "exponential")
                or n.func.attr == "get" and "streams" in ast.unparse(n.func.value)):
            found.append(f"line {n.lineno}: {ast.unparse(n)}")
        if isinstance(n, ast.Attribute) and n.attr in LAW_PARAMETERS and id(n) not in in_law:
            found.append(f"line {n.lineno}: {ast.unparse(n)}")
    return found


def test_no_platform_model_draws_or_computes_a_detection_delay_of_its_own() -> None:
    """The delay arithmetic (``keepalive_interval * U``, Ray's health-check sum, zmq's
    ``env.after(detection_delay, ...)``) is gone from the platform models: each reads its
    law's parameters only to build its :class:`DetectionLaw`, hands it to a
    :class:`LossDetection`, and draws no random number itself."""
    options = {"workqueue_options.py", "config.py", "detection.py"}
    for path in sorted(PLATFORMS_DIR.rglob("*.py")):
        if path.name not in options:
            assert _own_delays(ast.parse(path.read_text())) == [], path
    for model in ("workqueue.py", "ray/platform.py", "zmq/model.py"):
        assert "LossDetection(ctx, " in (PLATFORMS_DIR / model).read_text(), model
