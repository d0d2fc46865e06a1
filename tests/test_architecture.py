"""The structure holds: imports only go down the layers, no cycles (imports inside functions
count), small modules, one error tree. Reads the source with `ast`; nothing is run."""
from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import workbench
from workbench.errors import WorkbenchError

PKG = Path(workbench.__file__).parent
MAX_LINES = 600
# What each layer may import from the workbench (besides itself). Everything not listed is
# above all of these and may import anything below it.
LEAVES = {"workbench.errors", "workbench.paths", "workbench.trace"}
ALLOWED = {
    "workbench.conf": LEAVES,
    "workbench.qmp": LEAVES,
    "workbench.qemu": LEAVES | {"workbench.conf", "workbench.qmp"},
    "workbench.daemon": LEAVES | {"workbench.conf", "workbench.qmp", "workbench.qemu"},
}


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _runtime_nodes(tree: ast.AST):
    """Every node, at any depth (function bodies too), except `if TYPE_CHECKING:` blocks, which
    are annotations only and never run."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            todo += node.orelse
            continue
        todo += ast.iter_child_nodes(node)
        yield node


def imports_of(path: Path) -> set[str]:
    """Every workbench module `path` imports when it runs, at any depth (functions included)."""
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in MODULES and n != "workbench"}
    return found


GRAPH = {m: imports_of(p) - {m} for m, p in MODULES.items()}


def layer_of(module: str) -> str | None:
    for layer in ALLOWED:
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def test_imports_only_go_down() -> None:
    bad = []
    for m, deps in GRAPH.items():
        layer = layer_of(m)
        if layer is None:
            continue
        for dep in deps:
            if layer_of(dep) == layer:
                continue
            if not any(dep == ok or dep.startswith(ok + ".") for ok in ALLOWED[layer]):
                bad.append(f"{m} imports {dep}")
    assert not bad, "\n".join(bad)


def test_no_import_cycles() -> None:
    # Tarjan's strongly connected components; a package's __init__ importing its own
    # submodules is how packages work, so edges into a parent package are left out.
    def parent_of(a: str, b: str) -> bool:
        return a.startswith(b + ".")
    graph = {m: {d for d in deps if not parent_of(m, d)} for m, deps in GRAPH.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for m in graph:
        if m not in index:
            visit(m)
    assert not cycles, cycles


def test_simulated_world_stays_out_of_the_libvirt_model() -> None:
    # conf/, qemu/, qmp and the daemon mirror libvirt: they never import the simulated world.
    for m, deps in GRAPH.items():
        if layer_of(m) is not None:
            assert not [d for d in deps if d.startswith("workbench.sim")], m


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_small(module: str) -> None:
    lines = MODULES[module].read_text().count("\n")
    assert lines <= MAX_LINES, f"{module}: {lines} lines (limit {MAX_LINES})"


def test_every_exception_derives_from_workbench_error() -> None:
    strays = []
    for info in pkgutil.walk_packages(workbench.__path__, "workbench."):
        if info.name.startswith("workbench.bench.") and not info.ispkg:
            pass  # benchmark scripts import fine; they run only under __main__
        mod = importlib.import_module(info.name)
        for name, obj in inspect.getmembers(mod, inspect.isclass):
            if obj.__module__ == mod.__name__ and issubclass(obj, BaseException) \
                    and not issubclass(obj, WorkbenchError) and not name.startswith("_"):
                strays.append(f"{mod.__name__}.{name}")
    assert not strays, strays


def test_one_fail_helper() -> None:
    found = [m for m, p in MODULES.items() if "def _fail(" in p.read_text()]
    assert len(found) <= 1, found
