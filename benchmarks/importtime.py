"""Section 1's diagnosis: where the import time of a command goes (`python -X importtime`).

The cold-start target is a ratio to `python -c pass`, and nearly all that a command adds to
the interpreter's start is imports; these tables say which, grouped as a reader decides what
to cut: archdsl's own modules, each package archdsl imports (with all it imports in turn),
the interpreter's own start-up, and what is imported lazily while the command runs.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from statistics import median
from typing import Any

from harness import PYTHON, Report, fmt_time, new_table
from rich.markup import escape

IMPORTTIME_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)")
ARCHDSL_GROUP = "archdsl's own modules"
STARTUP_GROUP = "interpreter start-up (site, encodings, runpy, ...)"


def is_archdsl(module: str) -> bool:
    return module == "archdsl" or module.startswith("archdsl.")


def package_kind(name: str) -> str:
    """archdsl, stdlib, third party, or absent (an optional import that failed: lark tries `regex`)."""
    if name == "archdsl":
        return "archdsl"
    if name in sys.stdlib_module_names or name.startswith("_"):
        return "stdlib"
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    return "third party" if found else "absent"


def parse_importtime(stderr: str) -> list[tuple[int, str, float, float]]:
    """(depth, module, self seconds, cumulative seconds) for each line of -X importtime's output."""
    entries = []
    for line in stderr.splitlines():
        match = IMPORTTIME_LINE.match(line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            entries.append((len(indent), name, int(self_us) / 1e6, int(cumulative_us) / 1e6))
    return entries


def attribute(entries, pulls_in: dict[str, set[str]]) -> tuple[dict[str, float], dict[str, float]]:
    """Self time per module, and the whole import time split into groups (see the module docstring).

    Each line is printed when its import ends, after those it caused: read backwards, a line's
    parent is the nearest earlier-read line one level up.
    """
    modules: dict[str, float] = {}
    groups: dict[str, float] = {}
    first_archdsl = next((i for i, e in enumerate(entries) if e[0] <= 1 and is_archdsl(e[1])), len(entries))
    stack: list[tuple[int, str, str | None]] = []
    for index in range(len(entries) - 1, -1, -1):
        depth, name, self_s, cumulative_s = entries[index]
        modules[name] = modules.get(name, 0.0) + self_s
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1] if stack else None
        top = name.split(".")[0]
        if is_archdsl(name):
            group = None
            groups[ARCHDSL_GROUP] = groups.get(ARCHDSL_GROUP, 0.0) + self_s
        elif parent is not None and parent[2] is not None:
            group = parent[2]
            if top != group.split()[0] and package_kind(top) in ("third party", "absent"):
                pulls_in.setdefault(group, set()).add(top if package_kind(top) != "absent" else f"{top} (tried)")
        else:
            if parent is not None:  # imported by an archdsl module
                group = top if package_kind(top) == "third party" else name
            elif index < first_archdsl:
                group = STARTUP_GROUP
            else:
                group = top + " (lazy)"
            groups[group] = groups.get(group, 0.0) + cumulative_s
        stack.append((depth, name, group))
    return modules, groups


def importtime_profile(argv: Sequence[str], env: dict[str, str], cwd: Path, runs: int) -> dict[str, Any]:
    """Medians over `runs` runs of `python -X importtime` of the command: per module and per group."""
    per_module: dict[str, list[float]] = {}
    per_group: dict[str, list[float]] = {}
    pulls_in: dict[str, set[str]] = {}
    totals = []
    for run_index in range(runs):
        process = subprocess.run(
            [PYTHON, "-X", "importtime", *argv[1:]], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        modules, groups = attribute(parse_importtime(process.stderr.decode(errors="replace")), pulls_in)
        totals.append(sum(modules.values()))
        for store, found in ((per_module, modules), (per_group, groups)):
            for name in set(store) | set(found):
                store.setdefault(name, [0.0] * run_index).append(found.get(name, 0.0))
    return {
        "total": median(totals),
        "modules": {k: median(v) for k, v in per_module.items()},
        "groups": {k: median(v) for k, v in per_group.items()},
        "pulls_in": {k: sorted(v) for k, v in pulls_in.items()},
    }


def print_importtime(report: Report, commands: Sequence[tuple[str, Sequence[str]]], env: dict[str, str]) -> None:
    """The attribution table for `commands` (name, argv), and the slowest modules of the first."""
    runs = report.plan.importtime_runs
    report.progress(f"cold start: python -X importtime, {runs} runs per command")
    profiles = {name: importtime_profile(argv, env, report.root, runs) for name, argv in commands}
    names = [name for name, _argv in commands]
    attributed = new_table(
        f"Import time, attributed (python -X importtime, median of {runs} runs; time and share of all imports)",
        ("imported", "left"),
        ("kind", "left"),
        ("which pulls in", "left"),
        *[escape(name.removeprefix("archdsl ")) for name in names],
        caption="Totals: "
        + ", ".join(f"{escape(name)} {fmt_time(profiles[name]['total'])}" for name in names)
        + " (-X importtime's own overhead included, so more than the 'import archdsl.cli' phase above). Packages and "
        "stdlib modules count with everything they import; archdsl's modules count their own time only; (lazy): "
        "imported while the command runs, not when archdsl.cli is imported.",
    )
    every_group = {group for profile in profiles.values() for group in profile["groups"]}
    ranked = sorted(every_group, key=lambda g: -max(p["groups"].get(g, 0.0) for p in profiles.values()))
    shown, rest = ranked[:15], ranked[15:]

    def cells(groups: Sequence[str]) -> list[str]:
        found = []
        for name in names:
            value = sum(profiles[name]["groups"].get(group, 0.0) for group in groups)
            found.append(f"{fmt_time(value)} {100 * value / profiles[name]['total']:3.0f}%" if value else "—")
        return found

    for group in shown:
        if group.startswith("archdsl"):
            kind = "archdsl"
        elif group.startswith("interpreter"):
            kind = "python"
        else:
            kind = package_kind(group.split()[0].split(".")[0])
        pulls = sorted({p for profile in profiles.values() for p in profile["pulls_in"].get(group, [])})
        attributed.add_row(escape(group), kind, escape(", ".join(pulls)), *cells([group]))
    if rest:
        attributed.add_row(f"{len(rest)} others", "", "", *cells(rest))
    report.console.print(attributed)

    check_profile = profiles[names[0]]
    slow = new_table(
        f"The slowest single modules to import for `{names[0]}` (self time, median of {runs})",
        ("module", "left"),
        "self time",
        "share",
    )
    for name, value in sorted(check_profile["modules"].items(), key=lambda item: -item[1])[:12]:
        slow.add_row(name, fmt_time(value), f"{100 * value / check_profile['total']:.0f}%")
    report.console.print(slow)
    report.data.setdefault("coldstart", {})["importtime"] = profiles
