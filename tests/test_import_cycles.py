"""colorbench's modules never import each other in a circle (issue 24).

The walk reads the source with :mod:`ast`, so it sees every import: module level,
inside functions (a lazy import hides a circle only until the function runs) and under
``TYPE_CHECKING`` (a circle there still ties two modules together for a reader and a
type checker). Packages are mapped the way pyproject.toml installs them
(``tasks/`` -> ``colorbench.tasks``, ``plugins/`` -> ``colorbench.plugins``).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: source folder -> the package it installs as (pyproject.toml's package-dir)
PACKAGES = {
    "colorbench": "colorbench",
    "tasks": "colorbench.tasks",
    "plugins": "colorbench.plugins",
}


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Every installed colorbench module name -> its file."""
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = list(path.relative_to(root / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The colorbench modules that ``name`` (at ``path``) imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` depends on the submodule, `from mod import name` on mod
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in known else base)
    edges = set()
    for target in targets:
        while target and target not in known:  # `import a.b.c` where c is a name
            target = target.rpartition(".")[0]
        if target and target != name:
            edges.add(target)
    return edges


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    found = modules(root)
    return {name: imported(name, path, set(found)) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def _package_children(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Edges without "a package imports its own submodule" (``__init__`` re-exports), which
    is how a package is built, not a circle between parts."""
    return {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in edges.items()}


def test_no_import_cycle_among_colorbench_modules():
    found = cycles(_package_children(graph()))
    assert found == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_walk_sees_function_level_and_type_checking_imports(tmp_path):
    """Built circles are found, whichever way the import is written."""
    pkg = tmp_path / "colorbench"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from colorbench.sub import b\n")
    (pkg / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .. import a\n"
    )
    (pkg / "c.py").write_text("import colorbench.sub.b\n")
    edges = _package_children(graph(tmp_path))
    assert edges["colorbench.a"] == {"colorbench.sub.b"}
    assert edges["colorbench.sub.b"] == {"colorbench.a"}
    assert cycles(edges) == [["colorbench.a", "colorbench.sub.b"]]
    (pkg / "a.py").write_text("")
    assert cycles(_package_children(graph(tmp_path))) == []
