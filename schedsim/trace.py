"""A replication as a Chrome/Perfetto trace: one process per node, one thread per slot.

Each attempt is a slice on its node's slot (the ``slot`` column of attempts.csv), named by its
task and coloured by its outcome; every node has a ``node`` thread above its slots with its
lifecycle (``booting``, then ``up`` until it goes) and instant markers at its reclaim
``notice`` and where churn ``preempted`` it. Processes and threads are named with metadata
events; a ``run`` process holds the markers of no node (a task failed unplaced, the cut). A
trace holds at most ``limit`` attempts: a longer replication is cut at the start of the first
attempt left out, which the trace says at the cut (a global marker) and in its
``otherData``, and :class:`Cut` lets the caller say on the terminal. Open a trace at
ui.perfetto.dev or chrome://tracing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from schedsim.metrics import AttemptRecord, NodeEvent, NodeLog

if TYPE_CHECKING:
    from schedsim.simulation import RunResult

TRACE_LIMIT = 10_000  # attempts per trace unless --trace-limit says otherwise
LIMIT_FLAG = "--trace-limit"
NODE_TID = 1_000_000  # the thread of a node's lifecycle, sorted above its slots
US = 1e6  # trace timestamps are microseconds
# Perfetto treats pid and tid 0 as the kernel's idle task: node n is process n + 1 and slot s
# thread s + 1, both named by their own numbers.
FIRST_ID = 1


class Cut(NamedTuple):
    """A trace that holds only the first ``kept`` of ``total`` attempts, up to ``until`` s."""

    kept: int
    total: int
    until: float

    def text(self, name: str) -> str:
        return (f"{name} holds the first {self.kept:,} of {self.total:,} attempts (to "
                f"{self.until:,.1f} s of simulated time); {LIMIT_FLAG} {self.total} keeps "
                "them all")


def trace_name(replication: int) -> str:
    """The trace of replication 0 is trace.json, that of replication r trace-r.json."""
    return "trace.json" if replication == 0 else f"trace-{replication}.json"


def write_trace(result: RunResult, path: Path, *, replication: int = 0,
                limit: int = TRACE_LIMIT, info: dict[str, Any] | None = None) -> Cut | None:
    """Write one replication's trace to ``path``; the cut, if ``limit`` cut it."""
    doc, cut = trace_document(result, replication=replication, limit=limit, info=info)
    path.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
    return cut


def trace_document(result: RunResult, *, replication: int = 0, limit: int = TRACE_LIMIT,
                   info: dict[str, Any] | None = None) -> tuple[dict[str, Any], Cut | None]:
    """The trace as a JSON-ready document, and the cut if there is one."""
    records = sorted(result.log, key=lambda r: (r.start, r.task))
    end = float(result.metrics["makespan_s"])
    cut = None
    if len(records) > limit:
        cut = Cut(limit, len(records), records[limit].start)
        records, end = records[:limit], cut.until
    events: list[dict[str, Any]] = []
    marks: list[tuple[str, float, dict[str, Any]]] = []  # of the run, not of a node
    slots: dict[int, set[int]] = {}
    for rec in records:
        if rec.node < 0:  # a task failed without a node to run on (Ray, out of retries)
            marks.append((f"task {rec.task} {rec.outcome.name.lower()}", rec.start,
                          {"task": rec.task}))
            continue
        slots.setdefault(rec.node, set()).add(rec.slot)
        events.append(_slice(rec))
    nodes = result.nodes if result.nodes is not None else NodeLog()
    events += _lifecycle(nodes, end, cut is not None)
    shown = set(slots) | {e["pid"] - FIRST_ID for e in events if e.get("tid") == NODE_TID}
    other: dict[str, Any] = {**(info or {}), "replication": replication,
                             "attempts": cut.total if cut else len(records),
                             "attempts_in_trace": len(records), "limit": limit}
    if cut is not None:
        note = cut.text(f"this trace (replication {replication})")
        other["cut"] = note
        marks.append(("trace cut here", cut.until, {"note": note}))
    names = _names(shown, slots, nodes.labels)
    if marks:  # on a process of their own after the nodes', shown first
        pid = max([*shown, *nodes.labels, -1]) + 1 + FIRST_ID
        names += [_meta("process_name", pid, 0, "run"),
                  _meta("process_sort_index", pid, 0, sort_index=-1),
                  _meta("thread_name", pid, FIRST_ID, "events")]
        events += [_instant(name, time, pid, FIRST_ID, "g", args)
                   for name, time, args in marks]
    # displayTimeUnit first: Perfetto looks for it only at the start of the file.
    return {"displayTimeUnit": "ms", "otherData": other, "traceEvents": names + events}, cut


def _slice(rec: AttemptRecord) -> dict[str, Any]:
    outcome = rec.outcome.name.lower()
    return {"name": f"task {rec.task}", "cat": outcome, "ph": "X", "ts": rec.start * US,
            "dur": (rec.end - rec.start) * US, "pid": rec.node + FIRST_ID,
            "tid": rec.slot + FIRST_ID,
            "args": {"task": rec.task, "outcome": outcome, "node": rec.node, "slot": rec.slot}}


def _instant(name: str, time: float, pid: int, tid: int, scope: str,
             args: dict[str, Any] | None = None) -> dict[str, Any]:
    event = {"name": name, "cat": "churn", "ph": "i", "s": scope, "ts": time * US,
             "pid": pid, "tid": tid}
    if args:
        event["args"] = args
    return event


def _lifecycle(nodes: NodeLog, end: float, cut: bool) -> list[dict[str, Any]]:
    """Per node, up to ``end`` (before it, if the trace is ``cut`` there): booting and up as
    slices, notice and preemption as markers."""
    out: list[dict[str, Any]] = []
    since: dict[int, tuple[str, float]] = {}  # node -> (the phase it is in, since when)

    def close(node: int, time: float) -> None:
        if node in since:
            phase, start = since.pop(node)
            out.append({"name": phase, "cat": "node", "ph": "X", "ts": start * US,
                        "dur": (time - start) * US, "pid": node + FIRST_ID, "tid": NODE_TID})

    for time, node, event in nodes.events:
        if cut and time >= end:
            break
        if event == NodeEvent.LAUNCHED:
            since[node] = ("booting", time)
        elif event == NodeEvent.READY:
            close(node, time)
            since[node] = ("up", time)
        elif event == NodeEvent.GONE:
            close(node, time)
        elif event == NodeEvent.PREEMPTED:
            close(node, time)  # still booting: the boot ends here
            out.append(_instant("preempted", time, node + FIRST_ID, NODE_TID, "t"))
        elif event == NodeEvent.NOTICE:
            out.append(_instant("notice", time, node + FIRST_ID, NODE_TID, "t"))
    for node in list(since):
        close(node, end)
    return out


def _names(shown: set[int], slots: dict[int, set[int]], labels: dict[int, str]
           ) -> list[dict[str, Any]]:
    """Metadata events naming every process (node) and thread (slot) of the trace."""
    out: list[dict[str, Any]] = []
    for node in sorted(shown):
        label, pid = labels.get(node), node + FIRST_ID
        out.append(_meta("process_name", pid, 0, f"node {node}" +
                         (f" ({label})" if label else "")))
        out.append(_meta("process_sort_index", pid, 0, sort_index=node))
        if node in labels:
            out.append(_meta("thread_name", pid, NODE_TID, "node"))
            out.append(_meta("thread_sort_index", pid, NODE_TID, sort_index=-1))
        for slot in sorted(slots.get(node, ())):
            out.append(_meta("thread_name", pid, slot + FIRST_ID, f"slot {slot}"))
            out.append(_meta("thread_sort_index", pid, slot + FIRST_ID, sort_index=slot))
    return out


def _meta(kind: str, pid: int, tid: int, name: str | None = None,
          sort_index: int | None = None) -> dict[str, Any]:
    args: dict[str, Any] = {"name": name} if name is not None else {"sort_index": sort_index}
    return {"name": kind, "cat": "__metadata", "ph": "M", "pid": pid, "tid": tid, "args": args}
