"""The package's layout is the pipeline: each stage imports only the stages before it.

Every import in archdsl/ is read (function-level imports included, since lazy imports are
imports all the same) and the stage of the importing module must come at or after the
stage of the imported one. Within a stage, module-level imports must not form a cycle.
"""

from __future__ import annotations

import ast
import graphlib
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "archdsl"

# In pipeline order: a module may import from its own stage and the stages above it in this list.
STAGES = (
    ("archdsl.version", "archdsl.common"),
    ("archdsl.layers",),
    ("archdsl.ir",),
    ("archdsl.frontend",),
    ("archdsl.analysis",),
    ("archdsl.pipeline",),
    ("archdsl.targets",),
    ("archdsl.tools",),
    ("archdsl.lsp",),
    ("archdsl.cli",),
    ("archdsl.__init__", "archdsl.__main__"),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 2:
        parts = parts[:-1]
    return ".".join(parts)


def stage_of(module: str) -> int:
    for index, prefixes in enumerate(STAGES):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return index
    raise AssertionError(f"{module} belongs to no stage: add its package to STAGES in {__file__}")


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, module: str, top_level_only: bool = False) -> set[str]:
    """The archdsl modules `path` imports (as dotted names, relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    known = modules()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("archdsl")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            if not source.startswith("archdsl"):
                continue
            for alias in node.names:  # `from archdsl.tools import diff` imports a module
                candidate = f"{source}.{alias.name}"
                found.add(candidate if candidate in known else source)
    return {name for name in found if name != module}


def test_every_module_belongs_to_a_stage():
    for module in modules():
        stage_of(module)


@pytest.mark.parametrize("module", sorted(modules()))
def test_imports_point_only_back_down_the_pipeline(module):
    path = modules()[module]
    own = stage_of(module)
    upward = sorted(name for name in imports_of(path, module) if stage_of(name) > own)
    assert not upward, f"{module} (stage {STAGES[own][0]}) imports later stages: {upward}"


def test_no_import_cycles():
    graph = {module: imports_of(path, module, top_level_only=True) for module, path in modules().items()}
    graph = {module: {dep for dep in deps if dep in graph and dep != "archdsl"} for module, deps in graph.items()}
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle


def test_module_names_shadow_no_standard_library_module():
    clashes = sorted(name for name in modules() if name.rpartition(".")[2] in sys.stdlib_module_names and "." in name)
    assert not clashes, f"rename these modules: {clashes}"


def test_the_checker_finds_an_upward_import(tmp_path):
    """The test above can fail: a module of the front end that imports a target is caught."""
    fake = PACKAGE / "frontend" / "names.py"
    source = fake.read_text(encoding="utf-8") + "\nfrom archdsl.targets import codegen\n"
    copy = tmp_path / "names.py"
    copy.write_text(source, encoding="utf-8")
    found = imports_of(copy, "archdsl.frontend.names")
    assert "archdsl.targets.codegen" in found
    assert stage_of("archdsl.targets.codegen") > stage_of("archdsl.frontend.names")
