"""The package layout's import rules, read from the source with `ast` (every import, the lazy ones inside functions
too): imports only go down between the top-level packages, no cycle between edge's folders, the model lifecycle
never imports the service that uses it, the tests mirror the edge tree, and ARCHITECTURE.md names the tree as it is."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP = ("vision", "training", "edge")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(package: str) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}


def _imported(name: str, path: Path) -> Iterator[str]:
    """Every module name ``path`` imports (``from a import b`` yields ``a`` and ``a.b``; relative ones resolved)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _owner(imported: str, modules: dict[str, Path]) -> str | None:
    """The module of ours that ``imported`` names (a name inside a module counts as the module)."""
    while imported and imported not in modules:
        imported = imported.rpartition(".")[0]
    return imported or None


def _node(module: str) -> str:
    """edge's unit of layout: a folder (``edge.service``) or a module directly in edge/ (``edge.config``)."""
    return ".".join(module.split(".")[:2])


def _edge_arrows() -> set[tuple[str, str]]:
    """Arrows between edge's folders and top-level modules (who imports whom)."""
    modules = _modules("edge")
    arrows = set()
    for name, path in modules.items():
        for imported in _imported(name, path):
            target = _owner(imported, modules)
            if target is not None and _node(name) != _node(target) and _node(name) != "edge":
                arrows.add((_node(name), _node(target)))
    return arrows


def _cycle(arrows: set[tuple[str, str]]) -> list[str] | None:
    """One cycle in the graph, or None."""
    graph: dict[str, set[str]] = {}
    for a, b in arrows:
        graph.setdefault(a, set()).add(b)
    done: set[str] = set()

    def visit(node: str, trail: list[str]) -> list[str] | None:
        if node in trail:
            return trail[trail.index(node):] + [node]
        if node in done:
            return None
        for nxt in sorted(graph.get(node, ())):
            found = visit(nxt, [*trail, node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        found = visit(start, [])
        if found:
            return found
    return None


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("vision", ("edge", "training")), ("edge", ("training",)), ("training", ("edge",))],
)
def test_top_level_packages_import_only_down(package: str, forbidden: tuple[str, ...]) -> None:
    """An edge node installs no torch, so edge never imports training; vision is the base both sides use."""
    wrong = [
        f"{name} imports {imported}"
        for name, path in _modules(package).items()
        for imported in _imported(name, path)
        if imported.split(".")[0] in forbidden
    ]
    assert wrong == []


def test_no_cycle_between_edge_folders() -> None:
    arrows = _edge_arrows()
    assert ("edge.service", "edge.models") in arrows  # the graph is read at all
    assert _cycle(arrows) is None


def test_no_cycle_between_edge_modules() -> None:
    """A module may import its own package's __init__; no other circle (a command and its pipeline used to import
    each other)."""
    modules = _modules("edge")
    arrows = set()
    for name, path in modules.items():
        for imported in _imported(name, path):
            target = _owner(imported, modules)
            if target is not None and target != name and not name.startswith(f"{target}."):
                arrows.add((name, target))
    assert _cycle(arrows) is None


@pytest.mark.parametrize("lower", ["edge.models", "edge.ops", "edge.monitoring", "edge.store", "edge.tracking"])
def test_the_service_uses_its_parts_one_way(lower: str) -> None:
    """The service imports the model lifecycle, the review page, monitoring and the store; none of them imports the
    service (what they need from it they name as a protocol)."""
    arrows = _edge_arrows()
    assert (lower, "edge.service") not in arrows
    assert ("edge.service", lower) in arrows


def test_edge_tests_mirror_the_edge_tree() -> None:
    folders = [p for p in (ROOT / "tests" / "edge").rglob("*") if p.is_dir() and p.name != "__pycache__"]
    assert folders
    for folder in folders:
        twin = ROOT / "edge" / folder.relative_to(ROOT / "tests" / "edge")
        assert (twin / "__init__.py").is_file(), f"{folder.relative_to(ROOT)} has no package edge/{twin.name}"


def test_architecture_document_names_the_edge_tree() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for package in sorted(p.parent for p in (ROOT / "edge").glob("*/__init__.py")):
        assert f"`edge/{package.name}/`" in text, f"ARCHITECTURE.md does not name edge/{package.name}/"
    named = set(re.findall(r"\b((?:edge|vision|training|tests)/[\w/.]*\w)", text))
    assert named
    missing = sorted(n for n in named if not (ROOT / n).exists())
    assert missing == []
