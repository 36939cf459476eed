"""Package layout of modinterp.modularity: no import circle, imports at module level, algorithms model-free."""

import ast
from pathlib import Path

import modinterp

SRC = Path(modinterp.__file__).resolve().parent
ALGORITHMS = ("graph", "gomory_hu", "gusfield", "dinic", "partition", "metrics")
CHECKED = ("modularity", "models/mlp.py", "models/planted.py", "studies/carve")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _files() -> dict[str, Path]:
    files = {}
    for entry in CHECKED:
        path = SRC / entry
        for file in ([path] if path.suffix == ".py" else sorted(path.rglob("*.py"))):
            files[_module_name(file)] = file
    return files


def _is_module(name: str) -> bool:
    rel = SRC.parent / name.replace(".", "/")
    return rel.with_suffix(".py").exists() or (rel / "__init__.py").exists()


def _imports(file: Path, top_level_only: bool) -> list[tuple[str, int]]:
    """(imported modinterp module, line) for every import in the file (module level only, or only nested)."""
    tree = ast.parse(file.read_text())
    module_level = {id(node) for node in tree.body}
    out = []
    for node in ast.walk(tree):
        if (id(node) in module_level) != top_level_only or not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            base = node.module or ""
            names = [f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base for a in node.names]
        out += [(n, node.lineno) for n in names if n.split(".")[0] == "modinterp"]
    return out


def _import_graph() -> dict[str, set[str]]:
    return {name: {target for target, _ in _imports(file, True)} for name, file in _files().items()}


def test_no_function_level_import_of_a_modinterp_module():
    nested = [f"{name}:{line} imports {target}" for name, file in _files().items()
              for target, line in _imports(file, top_level_only=False)]
    assert nested == []


def _find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of `graph` (a list of modules, first == last), or None (depth-first search)."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path + [node, nxt]
            if nxt not in state and (found := visit(nxt, path + [node])):
                return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node, [])):
            return found[found.index(found[-1]):]
    return None


def test_import_graph_has_no_circle():
    assert _find_circle(_import_graph()) is None


def test_algorithms_import_only_the_plain_graph_and_each_other():
    allowed = {f"modinterp.modularity.{name}" for name in ALGORITHMS}
    for name in ALGORITHMS:
        file = SRC / "modularity" / f"{name}.py"
        targets = {target for target, _ in _imports(file, True)}
        assert targets <= allowed, f"{name}.py imports {sorted(targets - allowed)}"
        assert "import torch" not in file.read_text(), f"{name}.py imports torch: graphs are plain arrays"


def test_the_checker_sees_a_real_circle_and_a_nested_import(tmp_path):
    """The checks above can fail: a module importing its own package's __init__ closes a circle."""
    graph = _import_graph()
    graph["modinterp.modularity.graph"] = graph["modinterp.modularity.graph"] | {"modinterp.modularity"}
    circle = _find_circle(graph)
    assert circle is not None and circle[0] == circle[-1] and "modinterp.modularity.graph" in circle
    file = tmp_path / "nested.py"
    file.write_text("import numpy\n\n\ndef f():\n    from modinterp.modularity import graph\n")
    assert _imports(file, top_level_only=False) == [("modinterp.modularity.graph", 5)]
    assert _imports(file, top_level_only=True) == []
