"""The package's shape: no import cycles, no private names across modules, imports point down.

Read from the source (AST), not by importing, so a function-level import that hides a cycle from
Python's import machinery is still an edge here. Imports under `if TYPE_CHECKING:` are exempt:
they never run, and type hints may name a higher layer's classes. docs/architecture.md explains
the layers; a new module that is not in LAYERS is only checked for cycles and private imports
(add it to LAYERS to pin where it sits).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "occmodel"

# Lower numbers sit lower; a module may import only modules of its own layer or below.
LAYERS = {
    # 0: foundations that know nothing of the model
    "occmodel.version": 0, "occmodel.errors": 0, "occmodel.units": 0, "occmodel.outcomes": 0,
    "occmodel.stats": 0, "occmodel.results": 0, "occmodel.presets": 0, "occmodel.stability": 0,
    "occmodel.mser": 0, "occmodel.precision": 0, "occmodel.streams": 0, "occmodel.heap": 0,
    # 1: pieces a scenario is made of
    "occmodel.distributions": 1, "occmodel.policies": 1, "occmodel.policies.base": 1,
    "occmodel.policies.backoff": 1, "occmodel.policies.breaker": 1, "occmodel.policies.budget": 1,
    "occmodel.policies.envoy": 1, "occmodel.policies.finagle": 1, "occmodel.policies.throttle": 1,
    "occmodel.policies.window": 1, "occmodel.policies.hedge": 1, "occmodel.policies.resilience4j": 1,
    "occmodel.policies.polly": 1,
    # 2: the scenario
    "occmodel.config": 2,
    # 3: the model's parts, 4: the model
    "occmodel.network": 3, "occmodel.store": 3, "occmodel.trace": 3, "occmodel.metrics": 3,
    "occmodel.client": 3, "occmodel.workload": 3, "occmodel.keystats": 3, "occmodel.hedging": 3, "occmodel.guards": 3,
    "occmodel.model": 4,
    # 5: sweeps of runs (bounds: the grammar an experiment file is checked with)
    "occmodel.bounds": 5, "occmodel.executors": 5, "occmodel.keytable": 5, "occmodel.warmup": 5, "occmodel.experiment": 6,
    # 5: the [plot] and [compare] tables an experiment file is checked with (compare: paired differences)
    "occmodel.plotspec": 5, "occmodel.compare": 5,
    # 5: real stores driven by the model's clients' logic (beside the executors: another place runs go)
    "occmodel.backends": 5, "occmodel.backends.url": 5, "occmodel.backends.base": 5,
    "occmodel.backends.redis_store": 5, "occmodel.backends.postgres_store": 5, "occmodel.backends.real": 5,
    "occmodel.backends.calibrate": 5,
    # 7: readers of results, 8: entry points
    "occmodel.plotbase": 7, "occmodel.plots_timeseries": 7, "occmodel.plots_keys": 7, "occmodel.plots": 7, "occmodel.testing": 7,
    "occmodel.bench": 7, "occmodel.bench_reference": 7, "occmodel.reference": 7, "occmodel.tune": 7, "occmodel.plots_tune": 7,
    "occmodel.plots_map": 7, "occmodel.plots_compare": 7,
    "occmodel.reality": 7,     # issue 17: the model beside a measured sweep
    "occmodel.cli": 8, "occmodel.docgen": 8, "occmodel": 8,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run, at any depth (functions included)."""
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        if _type_checking_only(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom reads from."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def edges(module: str, tree: ast.AST) -> set[str]:
    """The package modules `module` imports at run time."""
    out = set()
    for node in runtime_imports(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in MODULES}
            continue
        source = resolve(module, node)
        for a in node.names:                       # `from . import workload` imports a module
            if f"{source}.{a.name}" in MODULES:
                out.add(f"{source}.{a.name}")
            elif source in MODULES:
                out.add(source)
    return out - {module}


def graph() -> dict[str, set[str]]:
    return {m: edges(m, ast.parse(p.read_text(), str(p))) for m, p in MODULES.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}                     # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(g.get(m, ())):
            if state.get(n) == 1:
                return path[path.index(n):] + [n]
            if n not in state and (c := visit(n)):
                return c
        state[m] = 2
        path.pop()
        return None

    for m in sorted(g):
        if m not in state and (c := visit(m)):
            return c
    return None


def private_imports(module: str, tree: ast.AST, own: str | None) -> list[str]:
    """`from occmodel.x import _y` and `x._y` (x an imported package module) outside x itself."""
    bad, aliases = [], {}
    for node in runtime_imports(tree):
        if isinstance(node, ast.ImportFrom):
            source = resolve(module, node) if own else node.module or ""
            for a in node.names:
                full = f"{source}.{a.name}"
                if full in MODULES:
                    aliases[a.asname or a.name] = full
                elif source in MODULES and source != own and a.name.startswith("_") and not a.name.startswith("__"):
                    bad.append(f"{module}: from {source} import {a.name}")
        else:
            aliases.update({a.asname or a.name: a.name for a in node.names if a.name in MODULES})
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")
                and aliases[node.value.id] != own):
            bad.append(f"{module}: {aliases[node.value.id]}.{node.attr}")
    return bad


def test_the_package_has_no_import_cycle():
    assert find_cycle(graph()) is None, f"import cycle: {' -> '.join(find_cycle(graph()) or [])}"


def test_imports_point_down_the_layers():
    upward = [f"{m} (layer {LAYERS[m]}) imports {n} (layer {LAYERS[n]})"
              for m, targets in graph().items() if m in LAYERS
              for n in sorted(targets) if n in LAYERS and LAYERS[n] > LAYERS[m]]
    assert not upward, "imports must point down the layers:\n" + "\n".join(upward)


def test_no_private_name_is_imported_across_modules():
    bad = [b for m, p in MODULES.items() for b in private_imports(m, ast.parse(p.read_text()), m)]
    bad += [b for p in sorted((ROOT / "tests").glob("*.py"))
            for b in private_imports(f"tests.{p.stem}", ast.parse(p.read_text()), None)]
    assert not bad, "private names used outside their module:\n" + "\n".join(bad)


# The checks themselves, on small hand-made sources: they must see what they are meant to see.

def _fake(tmp: dict[str, str]) -> dict[str, set[str]]:
    return {m: edges(m, ast.parse(src)) for m, src in tmp.items()}


@pytest.fixture
def fake_modules(monkeypatch):
    fake = {"occmodel.a": PACKAGE / "a.py", "occmodel.b": PACKAGE / "b.py", "occmodel.c": PACKAGE / "c.py"}
    monkeypatch.setitem(globals(), "MODULES", fake)
    return fake


def test_a_function_level_import_still_closes_a_cycle(fake_modules):
    g = _fake({"occmodel.a": "from .b import f\n",
               "occmodel.b": "def f():\n    from .c import g\n",
               "occmodel.c": "from occmodel.a import h\n"})
    assert find_cycle(g) == ["occmodel.a", "occmodel.b", "occmodel.c", "occmodel.a"]


def test_a_type_checking_import_is_not_an_edge(fake_modules):
    g = _fake({"occmodel.a": "from .b import f\n",
               "occmodel.b": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import A\n",
               "occmodel.c": ""})
    assert find_cycle(g) is None and g["occmodel.b"] == set()


def test_private_names_are_caught_both_ways(fake_modules):
    tree = ast.parse("from .b import _hidden, public, __dunder__\nfrom occmodel import c\nc._inner()\n")
    assert private_imports("occmodel.a", tree, "occmodel.a") == [
        "occmodel.a: from occmodel.b import _hidden", "occmodel.a: occmodel.c._inner"]
    assert private_imports("occmodel.b", ast.parse("from .b import _own\n"), "occmodel.b") == []
