"""The machine the report runs on, and what else ran on it meanwhile.

pyperf describes the system (`machine_metadata`, the header of the report). `contention` is
the report's own: pyperf records the load average and the runnable threads at the end of a
run, a glimpse; what says whether a section's figures were slowed is the CPU time other
processes took during all of it (/proc/stat less this process and its children).
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def machine_metadata() -> dict[str, Any]:
    """pyperf's description of the system now (what `python -m pyperf collect_metadata` prints)."""
    import pyperf

    return pyperf.Run([1.0], metadata={"name": "machine", "unit": "second"}).get_metadata()


def machine_now() -> str:
    found = machine_metadata()
    return ", ".join(f"{key} {found[key]}" for key in ("load_avg_1min", "runnable_threads", "cpu_freq") if key in found)


@dataclass(frozen=True)
class CpuSnapshot:
    busy_s: float  # every CPU's non-idle time, steal excluded
    steal_s: float
    total_s: float
    own_s: float  # this process and the children it waited for
    wall: float


def cpu_snapshot() -> CpuSnapshot | None:
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    times = os.times()
    return CpuSnapshot(
        busy_s=(user + nice + system + irq + softirq) / tick,
        steal_s=steal / tick,
        total_s=sum(fields) / tick,
        own_s=times.user + times.system + times.children_user + times.children_system,
        wall=time.perf_counter(),
    )


def contention(before: CpuSnapshot | None, after: CpuSnapshot | None) -> tuple[str, float]:
    """A sentence, and the cores other processes kept busy on average between the two snapshots."""
    if before is None or after is None:
        return "other processes' CPU use unknown", 0.0
    wall = after.wall - before.wall
    others = max(0.0, (after.busy_s - before.busy_s) - (after.own_s - before.own_s)) / wall
    steal = 100 * (after.steal_s - before.steal_s) / max(after.total_s - before.total_s, 1e-9)
    return f"other processes used {others:.2f} of {cores()} cores on average; CPU steal {steal:.1f}%", others


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def git_state(root: Path) -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "archdsl", "grammars", "templates"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    changed = [line[3:] for line in dirty if line.strip()]
    return f"{head}" + (f" + uncommitted changes to {', '.join(changed)}" if changed else " (clean)")


def package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"
