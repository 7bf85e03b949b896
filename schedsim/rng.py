"""Named random streams.

One ``numpy.random.SeedSequence`` per scenario seed; each replication and each named stream
(``durations``, ``lifetimes/spot``, ``boot/spot``, ...) gets its own child, addressed by a
stable key rather than by the order in which streams are asked for. Changing one component
(say, the platform) therefore never shifts the numbers another component draws: preemption
times stay where they were when only the platform changes.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream_key(name: str) -> int:
    """A stable 32-bit key for a stream name (not Python's salted ``hash``)."""
    return zlib.crc32(name.encode("utf-8"))


class Streams:
    """Random generators for one replication, one per stream name."""

    def __init__(self, seed: int, replication: int) -> None:
        self.seed = seed
        self.replication = replication
        self._cache: dict[str, np.random.Generator] = {}

    def get(self, name: str) -> np.random.Generator:
        gen = self._cache.get(name)
        if gen is None:
            seq = np.random.SeedSequence(self.seed, spawn_key=(self.replication, stream_key(name)))
            gen = np.random.Generator(np.random.PCG64(seq))
            self._cache[name] = gen
        return gen
