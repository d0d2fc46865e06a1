"""The structure holds: imports only go down the layers, no cycles (imports inside functions and
type-only imports count), small modules, one error tree. Reads the source with `ast`; nothing is run."""
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
# Every package and top-level module in a floor, lowest first: a module imports only from its
# own floor's packages and those below. Modules of one floor never import each other's package.
FLOORS = [
    ("workbench.errors", "workbench.paths", "workbench.atomicfile"),  # leaves
    ("workbench.trace",),                                         # spans and counters
    ("workbench.conf", "workbench.qmp"),                          # libvirt's XML and the monitor
    ("workbench.qemu",),                                          # the QEMU driver model
    ("workbench.daemon",),                                        # the model as a daemon
    ("workbench.sim",),                                           # the simulated world
    ("workbench.args",),                                          # argument types
    ("workbench.params",),                                        # the benchmark parameter record
    ("workbench.libvirt9",),                                      # real libvirt 9.0 beside the model
    ("workbench.analysis",),                                      # reading and judging runs
    ("workbench.bench",),                                         # benchmark scripts and the sweep
    ("workbench.commands",),                                      # the CLI's subcommands
    ("workbench.cli",),
]


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _all_nodes(tree: ast.AST):
    """Every node, at any depth: function bodies and `if TYPE_CHECKING:` blocks too (an
    annotation that needs a module above is an arrow upwards all the same)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        todo += ast.iter_child_nodes(node)
        yield node


def imports_of(path: Path) -> set[str]:
    """Every workbench module `path` imports, at any depth (functions and type-only imports included)."""
    found: set[str] = set()
    for node in _all_nodes(ast.parse(path.read_text())):
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
    """The package or top-level module of FLOORS that `module` belongs to."""
    for floor in FLOORS:
        for layer in floor:
            if module == layer or module.startswith(layer + "."):
                return layer
    return None


def floor_of(module: str) -> int:
    layer = layer_of(module)
    return next(i for i, floor in enumerate(FLOORS) if layer in floor)


def test_every_module_is_on_a_floor() -> None:
    assert not [m for m in MODULES if m != "workbench" and layer_of(m) is None]


def test_imports_only_go_down() -> None:
    bad = []
    for m, deps in GRAPH.items():
        if m == "workbench":
            continue
        for dep in deps:
            if layer_of(dep) == layer_of(m):
                continue
            if floor_of(dep) >= floor_of(m):
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
        if m != "workbench" and floor_of(m) <= floor_of("workbench.daemon"):
            assert not [d for d in deps if d.startswith("workbench.sim")], m


def test_what_mirrors_libvirt_never_imports_the_new_designs() -> None:
    # qemu/ mirrors libvirt 9.0 except qemu/designs/ and the strategies libvirt never shipped:
    # those use the designs, the rest (the strategy contract and libvirt's two included) never.
    libvirt_strategies = {f"workbench.qemu.strategies.{m}" for m in ("base", "full_caps", "per_emulator")}
    mirrors = [m for m in GRAPH if m.startswith("workbench.qemu") and not m.startswith("workbench.qemu.designs")
               and (not m.startswith("workbench.qemu.strategies.") or m in libvirt_strategies)]
    assert "workbench.qemu.driver" in mirrors
    bad = {m: sorted(d for d in GRAPH[m] if d.startswith("workbench.qemu.designs")) for m in mirrors}
    assert not {m: d for m, d in bad.items() if d}


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


def test_the_cli_imports_no_analysis_stack():
    """`workbench daemon` is timed from its spawn (daemon_startup): the CLI it starts through must
    not import pandas, scipy or matplotlib (~1.3 s here, more than a per-emulator startup)."""
    import subprocess
    import sys
    code = ("import sys, workbench.cli; workbench.cli.build_parser(); "
            "print(sorted(m for m in ('pandas', 'scipy', 'matplotlib', 'nbformat') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
