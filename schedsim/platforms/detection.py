"""Loss detection, written once: when a platform learns that one of its nodes is gone.

A node that shuts down cleanly (at the end of a notice: the worker closes its connection, the
raylet exits) is reported at once. A node lost abruptly says nothing: the platform's failure
detector (Work Queue's keepalive, Ray's GCS health checks, zmq's heartbeats) notices the
silence after a delay drawn from the platform's :class:`DetectionLaw`, a uniform jitter from
a named random stream plus fixed terms. :class:`LossDetection` applies the law and calls the
platform back once per node; what the platform then does (drop the worker, retry its tasks)
stays the platform's, as do its law's parameters (docs/models.md, Loss detection).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from schedsim.model.cluster import Node
    from schedsim.platforms.context import PlatformContext


@dataclass(frozen=True, slots=True)
class DetectionLaw:
    """An abrupt loss is noticed ``jitter`` x U(0, 1) after it, U drawn from the stream
    ``stream`` (no draw without one), plus each of ``fixed``."""

    fixed: tuple[float, ...]  # s, added in this order
    jitter: float = 0.0  # s: the width of the uniform part
    stream: str | None = None  # the named random stream the uniform part is drawn from

    def delay(self, rng: np.random.Generator | None) -> float:
        """One detection delay. The terms are added one by one, in order (not ``sum``, which
        compensates): each platform's delay is the float its formula gives."""
        delay = self.jitter * float(rng.random()) if rng is not None else 0.0
        for term in self.fixed:
            delay += term
        return delay


class LossDetection:
    """One platform's failure detector: ``found(node)`` once per lost node, at once for a
    clean shutdown, after the law's delay for an abrupt loss."""

    __slots__ = ("env", "law", "_rng", "_found", "_lost")

    def __init__(self, ctx: PlatformContext, law: DetectionLaw,
                 found: Callable[[Node], None]) -> None:
        if law.jitter and law.stream is None:
            raise ValueError("a detection law with a jitter needs a random stream")
        self.env = ctx.env
        self.law = law
        self._rng = ctx.streams.get(law.stream) if law.stream is not None else None
        self._found = found
        self._lost: set[int] = set()  # ids of the nodes reported, or to be

    def lost(self, node: Node, clean: bool = False) -> None:
        """``node`` is gone: the platform is told now if it shut down cleanly, else when the
        law's delay has passed; a node already reported is not reported again."""
        if node.id in self._lost:
            return
        self._lost.add(node.id)
        if clean:
            self._found(node)
        else:
            self.env.after(self.law.delay(self._rng), self._found, node)
