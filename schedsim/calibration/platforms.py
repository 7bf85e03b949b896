"""The platforms calibration measures live and fits: one registry line each.

For each, what its live runs' statistics are (per configuration: the per-attempt phases its
live runner reports, statistics derived from an attempt's record, and per-replication facts
of its details) and which of its model's parameters are read off those statistics or fitted
by optimisation (:mod:`~schedsim.calibration.platform_fit`). :mod:`schedsim.calibration.measure`
summarises the live runs with it, ``schedsim calibrate`` and ``schedsim validate`` run every
platform listed here. A new platform adds its line (docs/adding-a-platform.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

AttemptStat = Callable[[dict[str, Any]], float | None]  # of one done attempt's record
ReplicationStat = Callable[[Any], float | None]  # of one live replication (LiveResult)


@dataclass(frozen=True)
class Calibrated:
    # Parameters fitted by optimisation, with their starting points (the models' defaults).
    free: dict[str, float]
    # Parameters read off per-task records: name -> (measured statistic, what it is).
    phases: dict[str, tuple[str, str]]
    # Per-attempt phases the live runner reports, summarised over the done attempts.
    attempt_stats: tuple[str, ...] = ()
    derived: dict[str, AttemptStat] = field(default_factory=dict)
    replication_stats: dict[str, ReplicationStat] = field(default_factory=dict)
    # Phases that grow with the output: name -> (its rate's name, whether the measured phase
    # includes the output's crossing of the network, which the model carries apart). The
    # phase's medians are fitted against the task's output size: intercept and rate.
    sized: dict[str, tuple[str, bool]] = field(default_factory=dict)


def _execute_minus_task(a: dict[str, Any]) -> float | None:
    return a["execute_s"] - a["task_total_s"] if "execute_s" in a and "task_total_s" in a \
        else None


def _ray_overhead(a: dict[str, Any]) -> float | None:
    return a["end_s"] - a["start_s"] + a.get("return_s", 0.0) - a["task_total_s"] \
        if "task_total_s" in a else None


WORKQUEUE = Calibrated(
    free={"worker_connect_time": 0.05},
    phases={"dispatch_time": ("dispatch_s", "Work Queue's own dispatch_s per task"),
            "retrieval_time": ("retrieval_s", "Work Queue's own retrieval_s per task"),
            "task_launch_time": ("execute_minus_task_s", "the worker's execute_s less the "
                                 "program's own total_s and the task's teardown, per task")},
    attempt_stats=("dispatch_s", "execute_s", "retrieval_s", "overhead_s"),
    derived={"execute_minus_task_s": _execute_minus_task},
    replication_stats={
        "dispatch_span_s": lambda r: r.details["manager_summary"].get("dispatch_span_s"),
        "manager_wall_s": lambda r: r.details["manager_summary"].get("wall_s")})
RAY = Calibrated(
    free={"worker_start_time": 1.0},
    phases={"lease_latency": ("slot_gap_s", "a worker slot's idle gap between one task's end "
                              "and the next one's start"),
            "task_launch_time": ("process_overhead_s", "the Ray worker's subprocess wall time "
                                 "less the program's own total_s and the task's teardown, "
                                 "per task")},
    attempt_stats=("process_s", "process_overhead_s", "return_s"),
    derived={"overhead_s": _ray_overhead},
    replication_stats={"init_s": lambda r: r.details.get("init_s")})
ZMQ = Calibrated(
    free={"worker_start_time": 0.15},
    phases={"dispatch_time": ("slot_gap_s", "a worker slot's idle gap between its result's "
                              "journal line and its next dispatch's"),
            "result_time": ("coordinator_result_s", "the coordinator's own time per result: "
                            "from receiving it to its journal line (the output file written)"),
            "result_latency": ("result_latency_s", "the task's exit to the coordinator "
                               "receiving its result: the worker reads the output and sends it"),
            "task_launch_time": ("launch_s", "the dispatch's journal line to the task's exit "
                                 "less the program's own total_s and the task's teardown, "
                                 "per task")},
    attempt_stats=("dispatch_s", "execute_s", "return_s", "overhead_s", "launch_s",
                   "result_latency_s", "coordinator_result_s"),
    sized={"result_latency": ("result_send_rate", True),
           "result_time": ("result_write_rate", False)})

CALIBRATED: dict[str, Calibrated] = {"workqueue": WORKQUEUE, "ray": RAY, "zmq": ZMQ}
