"""Ray as one platform: the driver, the raylets, the object stores and the control plane
(each in its own module) over one shared state (``state.py``), wired here, with the bound."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from schedsim.model.server import SerialServer
from schedsim.platforms.detection import DetectionLaw, LossDetection
from schedsim.platforms.execution import Execution
from schedsim.platforms.ray.control import ControlPlane
from schedsim.platforms.ray.driver import Driver
from schedsim.platforms.ray.object_store import ObjectStore
from schedsim.platforms.ray.raylet import Raylet

if TYPE_CHECKING:
    from schedsim.platforms.context import PlatformContext


class RayPlatform(Driver, Raylet, ObjectStore, ControlPlane):
    """Ray in one replication."""

    def __init__(self, ctx: PlatformContext, config: Any) -> None:
        super().__init__(ctx, config)
        cfg = self.config
        host = ctx.host
        self.driver = SerialServer(self.env, "driver", self._pull,
                                   stretch=host.book if host is not None and host.platform_work
                                   else None)
        if cfg.autoscaler:
            ctx.churn.replacer = self._autoscale
        # GCS health checks: a silent node is marked dead once ``failures`` checks in a row
        # time out, the first sent U(0, period) after the loss, the others a period apart.
        self.detection = LossDetection(ctx, DetectionLaw(
            (cfg.health_check_failures * cfg.health_check_timeout,
             (cfg.health_check_failures - 1) * cfg.health_check_period),
            cfg.health_check_period, "ray/health"), self._detected)
        # Callbacks bound once (an attribute read of a method makes a new bound method):
        # they ride on every task's timers, transfers and driver jobs.
        self.execution = Execution(ctx, self._executed, cfg.task_launch_time)
        self._cb_pulled, self._cb_arrived = self._pulled, self._arrived
        self._cb_consumed = self._consumed
        self._cb_consume_all, self._cb_submit_all = self._consume_all, self._submit_all
        self._cb_staged_due = self._staged_due
