"""The package tree reads like the flow, and imports only run down it (checked from the source with `ast`).

Layers, lowest first: the shared modules (config, vocab; models, which may read vocab) -> ingest -> indexing -> query ->
answer | library (peers: neither imports the other) -> service -> serve -> cli. A module may import
its own package and anything below it, never a later stage; and no two modules import each other
(directly or round a longer cycle), lazy imports inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "assistant"
LAYER = {"models": 0.5, "config": 0, "vocab": 0, "ingest": 1, "indexing": 2, "query": 3, "answer": 4, "library": 4,
         "service": 5, "serve": 6, "cli": 7, "": 0}
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path, known: set[str]) -> set[str]:
    """The assistant modules a file imports (absolute or relative, at any depth of the file)."""
    found = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found |= {c for c in candidates if c in known}
    return found


def stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(path, set(mods)) - {name} for name, path in mods.items()}


def test_every_top_level_name_has_a_layer():
    assert {stage(m) for m in modules()} <= set(LAYER), {stage(m) for m in modules()} - set(LAYER)


def test_imports_run_down_the_flow():
    wrong = []
    for module, targets in graph().items():
        for target in targets:
            here, there = stage(module), stage(target)
            if here == there or there == "":
                continue
            if LAYER[there] > LAYER[here] or (LAYER[there] == LAYER[here]):
                wrong.append(f"{module} imports {target}")
    assert not wrong, "imports against the flow:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles():
    edges = graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if target == "assistant" or target.rpartition(".")[0] == node:  # a package's own __init__ re-exports
                continue
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target):] + [target]) if target in path else f"{node} -> {target}")
            elif target not in state:
                visit(target, path + [target])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_every_package_says_what_it_owns_and_may_import():
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        if init.parent.parent == PACKAGE:  # a stage package
            assert "May import" in doc, f"{init.relative_to(PACKAGE.parent)} lacks a docstring naming what it may import"


def test_no_module_is_too_long():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by job): {long}"
