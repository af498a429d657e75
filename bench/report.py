"""docs/benchmarks.md: one table per scenario, the servers side by side, and the ratio."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

Results = dict[str, dict[str, dict[str, float]]]  # server -> scenario -> metric -> value


def _machine() -> str:
    with open("/proc/meminfo") as handle:
        total_kib = int(handle.readline().split()[1])
    return (f"{os.cpu_count()} cores, {total_kib / 1024 / 1024:.0f} GiB memory, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def _higher_is_better(metric: str) -> bool:
    return "msg/s" in metric


def _advantage(metric: str, ours: float | None, theirs: float | None) -> str:
    if not ours or not theirs:
        return "n/a"
    ratio = ours / theirs if _higher_is_better(metric) else theirs / ours
    return f"{ratio:.1f}x"


def render(results: Results, command: str, notes: list[str]) -> str:
    servers = list(results)
    # The comparison is ours (the first column) against Synapse's.
    reference = "Synapse" if "Synapse" in results and servers[0] != "Synapse" else None
    lines = ["# Benchmarks", "",
             f"Produced by `{command}` on {datetime.date.today().isoformat()}.", "",
             f"Machine: {_machine()}. The load generator runs on the same cores as the "
             "server under test, so every figure includes its cost too.", ""]
    if reference:
        lines += ["The last column is our advantage over Synapse for the single-process "
                  "embedded server: Synapse's figure ÷ ours for times, memory and CPU, "
                  "ours ÷ Synapse's for rates.", ""]
    scenarios = list(dict.fromkeys(s for per in results.values() for s in per))
    for scenario in scenarios:
        metrics = list(dict.fromkeys(m for per in results.values()
                                     for m in per.get(scenario, {})))
        header = ["metric", *servers] + (["ours vs Synapse"] if reference else [])
        lines += [f"## {scenario}", "", "| " + " | ".join(header) + " |",
                  "|" + "---|" * len(header)]
        for metric in metrics:
            row = [metric] + [_fmt(results[s].get(scenario, {}).get(metric)) for s in servers]
            if reference:
                ours = results[servers[0]].get(scenario, {}).get(metric)
                row.append(_advantage(metric, ours, results[reference].get(scenario, {})
                                      .get(metric)))
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}" if value >= 100 else f"{value:.2f}"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
