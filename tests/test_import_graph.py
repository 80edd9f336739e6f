"""The readers, the bundled datasets, the weights store and the detectors import each other one way only.

The graph is read from the source (every import statement, those inside functions too: lazy imports are where the
old cycles hid): the readers import no dataset (``builtin:NAME`` goes through the lazy table in
:mod:`vgbench.io.sources`), the store imports no detector (each detector module declares its ``WEIGHTS``; the store
imports the modules of ``weights.SPEC_MODULES`` when a spec is first needed), and nothing uses a private name of
the store. A subprocess then checks the same at run time."""
import ast
import json
import subprocess
import sys
from pathlib import Path

from vgbench import detectors, weights
from vgbench.utils import import_object

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "vgbench"
LAYERS = ("vgbench.io", "vgbench.data", "vgbench.weights", "vgbench.detectors")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _from_module(node: ast.ImportFrom, package: str) -> str:
    """The absolute module a ``from X import ...`` statement reads from, inside ``package``."""
    if not node.level:
        return node.module
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return package + (f".{node.module}" if node.module else "")


def _package(name: str) -> str:
    return name if MODULES.get(name, Path()).name == "__init__.py" else name.rpartition(".")[0]


def _imports(name: str, source: str) -> set[str]:
    """The vgbench modules that module ``name`` (with this source) imports anywhere in its body, with the packages
    they are in (importing ``a.b.c`` runs ``a.b`` first), but not the packages ``name`` itself is in."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = _from_module(node, _package(name))
            found |= {f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module for a in node.names}
    with_packages = {".".join(m.split(".")[:i]) for m in found for i in range(2, m.count(".") + 2)}
    return {m for m in with_packages if m in MODULES and m != name and not name.startswith(m + ".")}


GRAPH = {name: _imports(name, path.read_text()) for name, path in MODULES.items()}


def _in_layers(name: str) -> bool:
    return any(name == layer or name.startswith(layer + ".") for layer in LAYERS)


def _cycles(nodes: set[str]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v] & nodes:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return found


def test_the_graph_reader_sees_lazy_and_relative_imports():
    """Imports inside functions and ``from . import module`` count: the reader is not blind where cycles hid."""
    source = ("from . import i3d\nfrom ..errors import VgbenchError\n"
              "def f():\n    from ..io.sources import open_source\n    import vgbench.weights as W\n")
    assert _imports("vgbench.detectors.c3d", source) == {
        "vgbench.detectors.i3d", "vgbench.errors", "vgbench.io", "vgbench.io.sources", "vgbench.weights"}
    assert "vgbench.weights" in GRAPH["vgbench.detectors.c3d"]  # `from .. import weights`


def test_readers_datasets_weights_and_detectors_have_no_import_cycle():
    reachable, todo = set(), [m for m in GRAPH if _in_layers(m)]
    while todo:
        m = todo.pop()
        if m not in reachable:
            reachable.add(m)
            todo.extend(GRAPH[m])
    assert _cycles(reachable) == []


def test_readers_import_no_dataset_and_the_store_no_detector():
    readers_to_data = {m: sorted(e for e in GRAPH[m] if e.startswith("vgbench.data"))
                       for m in GRAPH if m.startswith("vgbench.io")}
    assert {m: e for m, e in readers_to_data.items() if e} == {}
    assert sorted(e for e in GRAPH["vgbench.weights"] if e.startswith("vgbench.detectors")) == []


def _private_uses_of_the_store(name: str, source: str) -> list[str]:
    """``from ...weights import _x`` and ``weights._x`` / ``W._x`` (a name bound to the store) in one module."""
    tree = ast.parse(source)
    bound, uses = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = _from_module(node, _package(name))
            for a in node.names:
                if module == "vgbench.weights" and a.name.startswith("_"):
                    uses.append(f"from {module} import {a.name}")
                if f"{module}.{a.name}" == "vgbench.weights":
                    bound.add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            bound |= {a.asname for a in node.names if a.name == "vgbench.weights" and a.asname}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            uses.append(f"{node.value.id}.{node.attr}")
    return uses


def test_the_private_name_finder_finds_both_forms():
    source = "from ..weights import home, _paths\nfrom .. import weights as W\nW._extract_member(1)\nW.__name__\n"
    assert _private_uses_of_the_store("vgbench.detectors.face", source) == [
        "from vgbench.weights import _paths", "W._extract_member"]


def test_no_module_uses_a_private_name_of_the_weights_store():
    offenders = {m: _private_uses_of_the_store(m, p.read_text()) for m, p in MODULES.items() if m != "vgbench.weights"}
    assert {m: u for m, u in offenders.items() if u} == {}


def test_every_detector_module_with_weights_is_in_the_store_table():
    """A detector module that declares ``WEIGHTS`` is listed in ``SPEC_MODULES`` (else its weights are unknown),
    and every weights name and alias is distinct (``resolve`` would silently pick one)."""
    declaring = {m for m, p in MODULES.items() if any(
        isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "WEIGHTS" for t in n.targets)
        for n in ast.parse(p.read_text()).body)}
    assert declaring == set(weights.SPEC_MODULES)
    names = [s.name for m in weights.SPEC_MODULES for s in import_object(f"{m}:WEIGHTS")]
    aliases = [a for s in weights.specs().values() for a in s.aliases]
    assert len(names + aliases) == len(set(names + aliases)) == len(weights.specs()) + len(aliases)
    assert {weights.resolve(a).name for a in aliases} <= set(names)


def test_the_detector_table_names_loaders_whose_weights_the_store_knows():
    for name, target in detectors._BUILTIN.items():
        module, _, attr = target.partition(":")
        assert attr == "load_detector" and callable(import_object(target))
        assert name in {s.detector for s in import_object(f"{module}:WEIGHTS")}
    assert set(detectors._BUILTIN) <= set(detectors.available_detectors())


PROBE = """
import json, sys
def loaded():
    return sorted(m for m in sys.modules if m.startswith(("vgbench.detectors", "vgbench.data")))
import vgbench.weights as W, vgbench.io.sources as S
steps = [loaded()]
S.open_source("builtin:tiny")
steps.append(loaded())
W.resolve("i3d")
steps.append(loaded())
print(json.dumps(steps))
"""


def test_store_and_readers_import_no_detector_and_no_dataset_until_asked():
    imported, after_builtin, after_resolve = json.loads(subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, check=True).stdout)
    assert imported == []
    assert after_builtin == ["vgbench.data", "vgbench.data.tiny"]
    assert set(weights.SPEC_MODULES) <= set(after_resolve)
