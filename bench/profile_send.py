"""``python -m bench.profile_send``: where our embedded server's CPU goes per DM message.

Starts our server (SQLite, one process) as a subprocess, makes ``--pairs``
DM pairs, and runs the bench's throughput scenario (every pair sends
``--messages`` messages, one in flight per room, while each receiver
long-polls /sync). Prints accepted msg/s and the server's CPU ms per message
as the bench's throughput table measures them; run it several times,
alternating the versions compared, as its figures move with the machine's
other load. Each profile covers the send phase only:

* ``--profile py-spy`` samples the server with py-spy (``pip install py-spy``)
  and prints the functions with the most own and inclusive samples (stacks
  through coroutines are sometimes cut short, so inclusive counts are low);
* ``--profile cprofile`` runs the server under cProfile (slower, and each
  resumption of a coroutine counts as a call) and prints its top functions;
* ``--profile sql`` times every statement on the SQLite connections and
  prints, per message, how many ran and how long they took, by statement;
* ``--profile callgrind`` runs the server under valgrind's callgrind (much
  slower) and prints the user-space instructions per message: a figure the
  machine's other load does not move, for comparing two versions.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp

from bench import scenarios
from bench.procstats import cpu_seconds
from bench.servers import Server, _our_command, free_port, start_process

# Runs the server with cProfile (argv[1] == "cprofile") or an SQL statement count
# ("sql") switched on by SIGUSR1 and written to argv[2] by SIGUSR2.
_WRAPPER = """
import cProfile, collections, json, signal, sys, time
from homeserver.storage.sqlite import SqliteConnection
mode, out = sys.argv.pop(1), sys.argv.pop(1)
profile, on = cProfile.Profile(), [False]
counts, seconds, longest = collections.Counter(), collections.Counter(), collections.Counter()
def timed(method):
    async def run(self, sql, *args):
        if not on[0]:
            return await method(self, sql, *args)
        start = time.perf_counter()
        try:
            return await method(self, sql, *args)
        finally:
            key = " ".join(sql.split())
            counts[key] += 1
            took = time.perf_counter() - start
            seconds[key] += took
            longest[key] = max(longest[key], took)
    return run
if mode == "sql":
    SqliteConnection.execute = timed(SqliteConnection.execute)
    SqliteConnection.fetch = timed(SqliteConnection.fetch)
def start(*_):
    on[0] = True
    if mode == "cprofile":
        profile.enable()
def dump(*_):
    on[0] = False
    if mode == "cprofile":
        profile.disable()
        profile.dump_stats(out)
    else:
        open(out, "w").write(json.dumps([(k, n, seconds[k], longest[k])
                                           for k, n in counts.items()]))
signal.signal(signal.SIGUSR1, start)
signal.signal(signal.SIGUSR2, dump)
from homeserver.cli import main
main()
"""


async def start(data_dir: Path, mode: str, out: Path) -> Server:
    port = free_port()
    command = _our_command(data_dir, port, [])
    if mode in ("cprofile", "sql"):
        command[1:3] = ["-c", _WRAPPER, mode, str(out)]
    elif mode == "callgrind":
        command[:0] = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                       f"--callgrind-out-file={out}"]
    return await start_process("ours (SQLite, 1 process)", command, data_dir, port)


def _py_spy_report(raw: Path, top: int) -> None:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = [f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1]
                  + ")" for f in stack.split(";") if f]
        total += count
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    print(f"\npy-spy: {total} samples (the server's main thread, send phase)")
    for title, counter in (("inclusive", inclusive), ("own", own)):
        print(f"\n-- top {top} by {title} samples --")
        for name, count in counter.most_common(top):
            print(f"{100 * count / total:6.1f}%  {name}")


async def run(args: argparse.Namespace) -> dict[str, float]:
    data_dir = Path(tempfile.mkdtemp(prefix="profile-send-"))
    out = data_dir / "profile.out"
    server = await start(data_dir, args.profile, out)
    pid = server.pids[0]
    spy: subprocess.Popen[bytes] | None = None
    started = False
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            bench = scenarios.Bench(server, session, True)

            def measure_cpu() -> float:
                # Called right before the sends start and after the last arrives.
                nonlocal spy, started
                if not started:
                    started = True
                    if args.profile in ("cprofile", "sql"):
                        os.kill(pid, signal.SIGUSR1)
                    elif args.profile == "callgrind":
                        subprocess.run(["callgrind_control", "--instr=on", str(pid)],
                                       check=True, capture_output=True)
                    elif args.profile == "py-spy":
                        spy = subprocess.Popen(
                            [shutil.which("py-spy") or "py-spy", "record", "--pid", str(pid),
                             "--rate", "500", "--format", "raw", "--output", str(out),
                             "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                return cpu_seconds([pid])

            result = await scenarios.throughput(bench, args.pairs, args.messages, measure_cpu)
        if args.profile in ("cprofile", "sql"):
            os.kill(pid, signal.SIGUSR2)
            for _ in range(100):
                if out.exists():
                    break
                await asyncio.sleep(0.1)
        elif args.profile == "callgrind":
            subprocess.run(["callgrind_control", "--instr=off", str(pid)],
                           check=True, capture_output=True)
        elif spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait()
    finally:
        await server.stop()
    _report(args, out, args.pairs * args.messages)
    shutil.rmtree(data_dir, ignore_errors=True)
    return result


def _report(args: argparse.Namespace, out: Path, messages: int) -> None:
    if not out.exists():
        return
    if args.keep:
        shutil.copy(out, args.keep)
    if args.profile == "cprofile":
        stats = pstats.Stats(str(out))
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
    elif args.profile == "py-spy":
        _py_spy_report(out, args.top)
    elif args.profile == "callgrind":
        totals = [int(line.split()[1]) for line in out.read_text().splitlines()
                  if line.startswith(("totals:", "summary:"))]
        print(f"\ncallgrind: {totals[-1] / messages / 1e6:.3f} million user-space"
              " instructions per message")
    elif args.profile == "sql":
        counts = json.loads(out.read_text())
        counts.sort(key=lambda row: -row[2])
        total, spent = sum(row[1] for row in counts), sum(row[2] for row in counts)
        print(f"\nSQL: {total / messages:.2f} statements, {spent * 1000 / messages:.3f} ms"
              " per message (count and ms per message, longest ms)")
        for sql, n, secs, most in counts[:args.top]:
            print(f"{n / messages:6.3f} {secs * 1000 / messages:6.3f} {most * 1000:6.2f}"
                  f"  {sql[:140]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_send")
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--messages", type=int, default=150, help="per pair")
    parser.add_argument("--profile", choices=["none", "py-spy", "cprofile", "sql", "callgrind"],
                        default="none")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--keep", help="copy the profile's raw output to this file")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    print(f"pairs {args.pairs} x messages {args.messages}: "
          f"{result['accepted msg/s']:.0f} msg/s accepted, "
          f"{result['delivered msg/s']:.0f} delivered, "
          f"{result['server CPU ms per message']:.3f} server CPU ms/message, "
          f"under load send → /sync p50 {result['under load send → /sync p50 ms']:.2f} ms",
          file=sys.stderr)


if __name__ == "__main__":
    main()
