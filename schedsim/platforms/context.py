"""What a platform sees of the replication it runs in: its platform context.

A platform is given the clock, the cluster and its churn, the network and shared host (when
the scenario has them), the bag of tasks, the attempt log, the named random streams, the
scenario's settings a platform reads (workload, cluster and network specs) and the three
outcomes it reports (a task completed, a task out of retries, the job failed). It is not
given the :class:`~schedsim.simulation.Simulation` that builds all this: platforms sit below
the simulation and never import it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from schedsim.metrics import AttemptLog
    from schedsim.model.churn import Churn
    from schedsim.model.cluster import Cluster
    from schedsim.model.engine import Engine
    from schedsim.model.host import SharedHost
    from schedsim.model.network import Network
    from schedsim.model.workload import Workload
    from schedsim.rng import Streams
    from schedsim.scenario import ClusterSpec, NetworkSpec, WorkloadSpec


@dataclass(frozen=True, slots=True)
class PlatformContext:
    """One replication's components, as a platform uses them."""

    env: Engine  # the clock and the one scheduling API (at, after, cancel, now)
    cluster: Cluster  # launch and remove nodes (a manager, a factory, an autoscaler)
    churn: Churn  # whether a pool drains at notice, replacement delays, the replacer hook
    network: Network | None  # None: no transfers, inputs and outputs take no time
    host: SharedHost | None  # None: every node is a machine of its own
    workload: Workload  # the tasks: take, requeue, sizes
    log: AttemptLog  # per-attempt records and compute time
    streams: Streams  # named random streams ("workqueue/keepalive", "ray/health")
    workload_spec: WorkloadSpec  # the scenario's settings a platform reads ...
    cluster_spec: ClusterSpec
    network_spec: NetworkSpec | None
    # ... and the outcomes it reports: a task completed, a task ran out of retries (the job
    # goes on), the job failed as a whole (reason, one of metrics.FAILURE_KINDS).
    task_completed: Callable[[], None]
    task_failed: Callable[[], None]
    fail_job: Callable[[str, str], None]
