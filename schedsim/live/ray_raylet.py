"""One Ray node of a live run: a raylet that joins the head, in a session of its own.

Run as ``python -m schedsim.live.ray_raylet CONFIG.json`` by :mod:`schedsim.live.ray_nodes`,
one process per scenario node, each started in a new session: the raylet and whatever it starts
(its two agents, the Ray workers, their tasks) stay in that session, so killing the session is
the loss of the node, raylet included. The node is built as ``ray start --address`` and Ray's
multi-node test cluster (``ray.cluster_utils.Cluster.add_node``) build theirs, with
``ray._private.node.Node``: ``ray start`` refuses to join a cluster while Ray is told to stay on
127.0.0.1 (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``), and once allowed, it listens on every
interface. Each node gets a temporary folder of its own, as on a host of its own, so that
nodes started together never pick the same socket names.

It prints one JSON line, ``{"event": "up", "node_id": ..., "start_s": ...}``, once the GCS has
registered the node, then waits. When its stdin reaches end of file (the parent is gone), it
kills its own session.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from schedsim.live.ray_driver import die_with_parent, emit


def main(argv: list[str]) -> int:
    cfg = json.loads(Path(argv[0]).read_text())
    started = time.monotonic()
    waiter = threading.Thread(target=die_with_parent, daemon=True)
    waiter.start()
    from ray._private.node import Node
    from ray._private.parameter import RayParams

    params = RayParams(
        gcs_address=cfg["gcs_address"], node_ip_address="127.0.0.1",
        num_cpus=int(cfg["num_cpus"]), num_gpus=0,
        object_store_memory=int(cfg["object_store_bytes"]), temp_dir=cfg["temp_dir"],
        # As Cluster.add_node: ports picked by the system, one log monitor per host (the head's).
        min_worker_port=0, max_worker_port=0, node_manager_port=0)
    params.update_if_absent(include_log_monitor=False)
    params.dashboard_agent_listen_port = None
    node = Node(params, head=False, shutdown_at_exit=False, spawn_reaper=False)
    emit({"event": "up", "node_id": node.node_id, "start_s": time.monotonic() - started})
    waiter.join()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
