"""CPU time and resident memory of the server processes, read from /proc."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes so far."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def rss_mib(pids: list[int]) -> float:
    total_kib = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
    return total_kib / 1024


class PeakRss:
    """Samples resident memory every 50 ms while a phase runs."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = rss_mib(pids)

    @asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        async def sample() -> None:
            while True:
                self.peak = max(self.peak, rss_mib(self.pids))
                await asyncio.sleep(0.05)

        task = asyncio.create_task(sample())
        try:
            yield
        finally:
            task.cancel()
            self.peak = max(self.peak, rss_mib(self.pids))
