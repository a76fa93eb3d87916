"""node/ has no import cycle: its parts are wired through the protocols of
`node.abc`, not by importing `node.service` back (issue 14).

The graph is built from the source, not from what Python happens to import:
every `import` statement counts, those under `if TYPE_CHECKING:` and inside
functions included, since each is a dependency a reader has to follow."""

import ast
from pathlib import Path

PACKAGE = "node"
ROOT = Path(__file__).resolve().parents[2]


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _imported(module: str, path: Path, known: set[str]) -> set[str]:
    """The modules of `known` that `module` imports anywhere in its source."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = _package_of(module, path).split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from node import chain`
    edges = set()
    for name in names:
        while name and name not in known:  # `import node.chain.x` depends on node.chain
            name = name.rpartition(".")[0]
        if name and name != module:
            edges.add(name)
    return edges


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imported(name, path, set(modules)) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path that ends where it starts, or None."""
    done: set[str] = set()
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(name: str) -> list[str] | None:
        stack.append(name)
        on_stack.add(name)
        for following in sorted(graph.get(name, ())):
            if following in on_stack:
                return [*stack[stack.index(following) :], following]
            if following not in done:
                cycle = visit(following)
                if cycle is not None:
                    return cycle
        stack.pop()
        on_stack.discard(name)
        done.add(name)
        return None

    for start in sorted(graph):
        if start not in done:
            cycle = visit(start)
            if cycle is not None:
                return cycle
    return None


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The checker itself: a TYPE_CHECKING import and a function-level one
    close a cycle as surely as a top-level import does."""
    graph = {"node.a": {"node.b"}, "node.b": {"node.c"}, "node.c": {"node.a"}}
    assert find_cycle(graph) == ["node.a", "node.b", "node.c", "node.a"]
    assert find_cycle({"node.a": {"node.b"}, "node.b": set()}) is None
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n    from node.service import Node\n"
        "def f():\n    import node.chain\n    from node.p2p import Network\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source)
    known = {"node", "node.service", "node.chain", "node.p2p", "node.sibling", "node.probe"}
    assert _imported("node.probe", path, known) == {
        "node", "node.sibling", "node.service", "node.chain", "node.p2p"
    }  # fmt: skip


def test_the_node_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert "node.service" in graph and "node.sync" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in node/: " + " -> ".join(cycle or [])


def test_the_parts_of_the_node_see_it_only_through_its_protocols() -> None:
    graph = import_graph()
    for part in ("node.sync", "node.rpc_methods", "node.rpc_market", "node.worker_link"):
        assert "node.service" not in graph[part], part
    assert "node.service" not in graph["node.abc"]
