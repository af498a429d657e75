"""``python -m bench.run``: every scenario against Synapse and against us, one report.

``--smoke`` runs a small pass against our embedded server only (CI runs it so
the benchmark cannot rot) and writes nothing unless ``--out`` is given.
``--memory`` runs only the memory scenarios (bench/memory.py), against our
embedded server, and writes nothing unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench import memory as memory_scenarios
from bench import report, scenarios
from bench.procstats import PeakRss, cpu_seconds, rss_mib
from bench.servers import Server, start_ours, start_ours_workers, start_synapse


@dataclass(frozen=True)
class Plan:
    pairs: int
    messages: int
    rounds: int
    load_pairs: int
    load_messages: int
    milestones: list[int]
    registrations: int
    idle_sockets: int


NOTES = [
    "Every figure is wall-clock or /proc data from the same run; the load generator "
    "(one Python process) shares the 2 cores with the server, so the servers' own "
    "figures are better than shown, Synapse's as much as ours.",
    "CPU per message is the server processes' user+system time during the throughput "
    "phase divided by the messages sent; PostgreSQL's and Redis's own CPU is not included "
    "for the workers.",
    "Only ours runs the idle-socket scenarios (Synapse has no WebSocket API); each socket "
    "kind is measured on a fresh server of its own, so the 'Server memory' rows do not "
    "include them.",
    "Target missed, two workers faster than one process: on these 2 cores two workers on "
    "PostgreSQL + Redis are slower than the embedded server. Where the time goes: every "
    "write holds the global stream-position row lock for its whole transaction (about 9 "
    "PostgreSQL round trips), so writes from both workers serialise on round trips, and "
    "the workers, PostgreSQL, Redis and the load generator share 2 cores. What would close "
    "it: a per-room lock for the reads and checks, taking the global position only for the "
    "insert and commit, and more cores.",
    "Memory targets (idle <= 40 MiB, <= 60 MiB after the whole bench, <= 16 KiB per idle "
    "general-stream socket), where it goes: about 50 MiB is the interpreter with asyncio, "
    "aiohttp and cryptography imported (21 MiB of it library pages shared with other "
    "processes); the bench adds SQLite's two 2 MiB page caches and Python's high-water "
    "mark. A bare aiohttp WebSocket handler costs about 15 KiB per idle socket; ours adds "
    "the middlewares' frames, a relay task per socket and, on the general stream, a "
    "sync held open per socket.",
    "uvloop was measured (same scenarios, alternating runs) and gave no gain beyond "
    "run-to-run noise, so it is not used.",
]

FULL = Plan(pairs=10, messages=50, rounds=20, load_pairs=20, load_messages=50,
            milestones=[10, 100, 1000], registrations=40, idle_sockets=10_000)
SMOKE = Plan(pairs=2, messages=5, rounds=4, load_pairs=4, load_messages=5, milestones=[5, 20],
             registrations=4, idle_sockets=100)


async def measure(start: Callable[[], Awaitable[Server]], ours: bool, plan: Plan,
                  memory_only: bool = False) -> tuple[str, dict[str, dict[str, float]]]:
    server = await start()
    print(f"bench: {server.name} at {', '.join(server.urls)}", file=sys.stderr)
    pids = server.pids
    memory = {"resident MiB, idle": rss_mib(pids)}
    results: dict[str, dict[str, float]] = {}
    peak = PeakRss(pids)
    connector = aiohttp.TCPConnector(limit=0)
    try:
        async with aiohttp.ClientSession(connector=connector) as session, peak.watching():
            bench = scenarios.Bench(server, session, ours)
            memory.update(await memory_scenarios.registrations(
                bench, plan.registrations, lambda: rss_mib(pids)))
            if not memory_only:
                await _scenarios(bench, plan, pids, results, memory)
        memory["resident MiB, peak"] = peak.peak
        results["Server memory"] = memory
    finally:
        await server.stop()
    return server.name, results


async def _scenarios(bench: scenarios.Bench, plan: Plan, pids: list[int],
                     results: dict[str, dict[str, float]], memory: dict[str, float]) -> None:
    results["DM end-to-end latency"] = await scenarios.dm_latency(
        bench, plan.pairs, plan.messages)
    memory["resident MiB, after DM latency"] = rss_mib(pids)
    results["Typing and presence delivery"] = await scenarios.typing_and_presence(
        bench, plan.rounds)
    results["Throughput (all pairs at once)"] = await scenarios.throughput(
        bench, plan.load_pairs, plan.load_messages, lambda: cpu_seconds(pids))
    memory["resident MiB, after throughput"] = rss_mib(pids)
    results["/sync cost as a user's rooms grow"] = await scenarios.sync_cost(
        bench, plan.milestones)
    memory["resident MiB, after /sync cost"] = rss_mib(pids)


async def measure_sockets(plan: Plan) -> dict[str, dict[str, float]]:
    """Our idle sockets of each kind, each kind on a fresh embedded server."""
    return {f"Idle {kind} sockets on one process": await _idle_sockets(kind, plan.idle_sockets)
            for kind in memory_scenarios.SOCKET_KINDS}


async def _idle_sockets(kind: str, count: int) -> dict[str, float]:
    server = await start_ours()
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            bench = scenarios.Bench(server, session, True)
            return await memory_scenarios.idle_sockets(bench, kind, count,
                                                       lambda: rss_mib(server.pids))
    finally:
        await server.stop()


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--smoke", action="store_true", help="a small pass, our server only")
    parser.add_argument("--memory", action="store_true",
                        help="only the memory scenarios, our server only")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else FULL
    runs: list[tuple[Callable[[], Awaitable[Server]], bool]] = [(start_ours, True)]
    if not (args.smoke or args.memory):
        runs += [(start_ours_workers, True), (start_synapse, False)]
    results: report.Results = {}
    for start, ours in runs:
        name, figures = await measure(start, ours, plan, memory_only=args.memory)
        results[name] = figures
    results[next(iter(results))].update(await measure_sockets(plan))
    full = not (args.smoke or args.memory)
    out = args.out or (Path("docs/benchmarks.md") if full else None)
    flags = [f for f, on in (("--smoke", args.smoke), ("--memory", args.memory)) if on]
    command = " ".join(["python -m bench.run", *flags])
    text = report.render(results, command, NOTES if full else [])
    if out is not None:
        report.write(out, text)
    print(text)


if __name__ == "__main__":
    asyncio.run(main())
