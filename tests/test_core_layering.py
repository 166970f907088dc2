"""The core layer's rules: nothing imports upward, no import circles, no side effects at import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mnistedge"
MODULES = sorted(PACKAGE.rglob("*.py"))
STAGES = ("data", "train", "export", "runtime", "bench", "cli")


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every mnistedge module ``path`` imports, at any depth (lazy imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mnistedge"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("mnistedge"))
    known = {_name(p) for p in MODULES}
    return {name for name in found if name in known}


GRAPH = {_name(p): _imports(p) - {_name(p)} for p in MODULES}


@pytest.mark.parametrize("module", [m for m in GRAPH if m.startswith("mnistedge.core")])
def test_core_imports_no_stage(module: str) -> None:
    upward = sorted(m for m in GRAPH[module] if any(m.startswith(f"mnistedge.{s}") for s in STAGES))
    assert upward == [], f"{module} imports {upward}"


def test_no_import_circles() -> None:
    """Depth-first search over module imports (package __init__ re-exports excluded)."""
    graph = {m: deps - _packages() for m, deps in GRAPH.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def _packages() -> set[str]:
    return {_name(p) for p in MODULES if p.name == "__init__.py"}


SIDE_EFFECTS = {("os", "umask"), ("os", "putenv"), ("logging", "basicConfig"), ("warnings", "filterwarnings")}


def _module_level_calls(tree: ast.Module) -> list[ast.AST]:
    """Nodes that run at import: everything outside function bodies."""
    out, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _name(p))
def test_no_process_wide_side_effects_at_import(path: Path) -> None:
    problems = []
    for node in _module_level_calls(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name) and (owner.id, node.func.attr) in SIDE_EFFECTS:
                problems.append(f"line {node.lineno}: {owner.id}.{node.func.attr}()")
            if isinstance(owner, ast.Attribute) and owner.attr == "environ":  # os.environ.setdefault/update
                problems.append(f"line {node.lineno}: os.environ.{node.func.attr}()")
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Subscript) and "environ" in ast.unparse(target.value):
                    problems.append(f"line {node.lineno}: {ast.unparse(target)} = ...")
    assert problems == []


def test_no_module_calls_umask_anywhere() -> None:
    offenders = [_name(p) for p in MODULES if "os.umask(" in p.read_text()]
    assert offenders == []
