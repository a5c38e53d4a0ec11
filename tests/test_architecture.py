"""The import graph runs one way: data -> numpy_nn, models -> train -> runs -> claims -> studies -> sweep ->
report -> reproduce -> cli_args -> cli, over a bottom of leaf modules. Every `import` in the package is read
(those inside functions too), so a lazy import cannot hide an arrow that runs back up."""

from __future__ import annotations

import ast
from pathlib import Path

import dlrepro

ROOT = Path(dlrepro.__file__).parent

# Bottom first. A module may import its own package, the leaves, and any layer below its own.
LEAVES = {"dlrepro", "errors", "files", "readfile", "seeds", "registry", "plotting", "run_format", "text"}
LAYERS = [{"data"}, {"numpy_nn", "models"}, {"train"}, {"runs"}, {"claims"}, {"studies"}, {"sweep"}, {"report"},
          {"reproduce"}, {"cli_args"}, {"cli"}, {"__main__"}]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in ROOT.rglob("*.py")}


def imports() -> set[tuple[str, str]]:
    """(importer, imported) for every import of one dlrepro module by another."""
    known, edges = modules(), set()
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            edges |= {(name, t) for t in targets if t in known and t != name}
    return edges


def package(module: str) -> str:
    """The part of the house a module belongs to: its subpackage, or its own name for a top-level module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layer(module: str) -> int:
    top = package(module)
    if top in LEAVES:
        return -1
    found = [i for i, names in enumerate(LAYERS) if top in names]
    assert found, f"{module} is in no layer of this test; add its package to LAYERS or LEAVES"
    return found[0]


def test_every_module_has_a_layer():
    for name in modules():
        layer(name)


def test_no_module_imports_a_higher_layer_or_a_sibling_package():
    wrong = []
    for a, b in sorted(imports()):
        same = package(a) == package(b)
        if same:
            continue
        if layer(b) > layer(a) or (layer(b) == layer(a) and layer(a) >= 0):
            wrong.append(f"{a} imports {b}")
    assert not wrong, "imports that run up the house:\n" + "\n".join(wrong)


def test_the_leaves_import_no_layer():
    wrong = [f"{a} imports {b}" for a, b in imports() if layer(a) == -1 and layer(b) >= 0]
    assert not wrong, wrong


def test_the_module_graph_has_no_cycle():
    graph: dict[str, set[str]] = {}
    for a, b in imports():
        if not (ROOT / Path(*b.split(".")[1:]) / "__init__.py").exists():  # importing a package's name is no arrow
            graph.setdefault(a, set()).add(b)
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            assert state.get(nxt) != 1, "import cycle: " + " -> ".join([*path, node, nxt])
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
