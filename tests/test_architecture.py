"""The house's rules, read from the code: which room may import which, and how big a room's module may grow.

Every ``import`` and ``from ... import`` of the project's modules counts,
at module level or inside a function, so a deferred import cannot hide a
cycle. The rooms, lowest first:

- the core (``detectors/core``) imports nothing else of the project;
- ``detectors/`` imports the core and itself;
- ``models/`` and ``alerting/`` import ``detectors/`` (the core, and for models the detector contract);
- ``pipeline/`` wires them all.

Tools (``detectors/evaluation``, ``models/evaluation``, ``pipeline/tools``) sit
beside the runtime: nothing the worker runs imports them.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("pipeline", "detectors", "models", "alerting")
CORE = "aiops.detectors.core"
TOOLS = ("aiops.detectors.evaluation", "aiops.models.evaluation", "aiops.pipeline.tools")
# Command-line front ends may start a tool; they are not what the worker runs.
FRONT_ENDS = ("aiops.pipeline.cli", "aiops.alerting.cli", "aiops.models.cli")
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["aiops", *parts])


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for room in ROOMS for p in (ROOT / room).rglob("*.py")}


def imports_of(path: Path, name: str) -> list[tuple[str, int]]:
    """The project modules ``path`` imports (absolute or relative), with line numbers."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]  # a submodule imported by name
    return [(t, line) for t, line in found if t.startswith("aiops.")]


def resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The project module an import names (``a.b.Name`` -> ``a.b``), or None."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def room_of(module: str) -> str:
    return "core" if module == CORE or module.startswith(CORE + ".") else module.split(".")[1]


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, list[str]]]:
    """module -> imported module -> ["file:line", ...]."""
    modules = project_modules()
    edges: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for name, path in modules.items():
        for target, line in imports_of(path, name):
            resolved = resolve(target, modules)
            if resolved and resolved != name:
                edges[name][resolved].append(f"{path.relative_to(ROOT)}:{line}")
    return edges


def room_edges(graph) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    for src, targets in graph.items():
        for dst, where in targets.items():
            a, b = room_of(src), room_of(dst)
            if a != b:
                out[(a, b)] += where
    return out


def find_cycle(edges: set[tuple[str, str]]) -> list[str] | None:
    """One cycle of the directed graph, as a path that ends where it starts, or None."""
    succ: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        succ[a].add(b)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(succ[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(succ):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_one_and_only_one():
    assert find_cycle({("a", "b"), ("b", "c")}) is None
    assert find_cycle({("a", "b"), ("b", "c"), ("c", "a")}) == ["a", "b", "c", "a"]


def test_the_graph_sees_deferred_and_relative_imports(tmp_path, graph):
    """The reader counts an import inside a function, and a submodule named in ``from package import name``."""
    assert "aiops.detectors.core.errors" in graph["aiops.detectors.engine"]
    assert "aiops.detectors.core.state_codec" in graph["aiops.detectors.engine"]  # from aiops.detectors.core import ...
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from aiops.pipeline import app\n")
    assert ("aiops.pipeline.app", 2) in imports_of(src, "aiops.x.m")


def test_no_cycle_between_the_rooms(graph):
    """pipeline/, detectors/ (with its core), models/ and alerting/ import each other one way only."""
    edges = room_edges(graph)
    cycle = find_cycle(set(edges))
    assert cycle is None, "rooms import each other in a circle: " + " -> ".join(cycle) + "\n" + "\n".join(
        f"  {a} -> {b}: {', '.join(edges[(a, b)][:5])}" for a, b in zip(cycle, cycle[1:]))


@pytest.mark.parametrize("room, allowed", [
    ("core", set()),
    ("detectors", {"core"}),
    ("models", {"core", "detectors"}),
    ("alerting", {"core"}),
])
def test_each_room_imports_only_the_rooms_below(graph, room, allowed):
    edges = room_edges(graph)
    wrong = {(a, b): w for (a, b), w in edges.items() if a == room and b not in allowed}
    assert not wrong, "\n".join(f"{a} -> {b}: {', '.join(w)}" for (a, b), w in wrong.items())


def test_no_module_cycle_inside_the_core(graph):
    edges = {(a, b) for a, targets in graph.items() for b in targets if room_of(a) == room_of(b) == "core"}
    assert find_cycle(edges) is None


def test_the_runtime_never_imports_the_tools(graph):
    """Nothing the worker runs imports the evaluation tools, the demo, the generator or the benchmarks."""
    def is_tool(module: str) -> bool:
        return any(module == t or module.startswith(t + ".") for t in TOOLS)

    wrong = [f"{src} -> {dst}: {', '.join(where)}" for src, targets in graph.items() for dst, where in targets.items()
             if is_tool(dst) and not is_tool(src) and src not in FRONT_ENDS]
    assert not wrong, "\n".join(wrong)


def test_no_runtime_module_is_over_600_lines():
    long = [f"{p.relative_to(ROOT)}: {n}" for p in sorted(ROOT.glob("*/**/*.py"))
            if p.parts[len(ROOT.parts)] in ROOMS and (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not long, f"modules over {MAX_LINES} lines: " + ", ".join(long)


def test_no_exec_or_eval_in_the_product():
    calls = []
    for path in project_modules().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"exec", "eval"}:
                calls.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.func.id}")
    assert not calls, calls
