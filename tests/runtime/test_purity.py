"""The runtime must be deterministic: no clocks, randomness, I/O or floats."""

import ast
from pathlib import Path

import pytest

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"
FORBIDDEN_MODULES = {
    "time",
    "datetime",
    "random",
    "os",
    "socket",
    "threading",
    "subprocess",
    "secrets",
    "uuid",
    "asyncio",
    "trio",
    "plyvel",
    "pathlib",
    "io",
}
SOURCES = sorted(RUNTIME.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(RUNTIME)))
def test_runtime_module_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [(node.module or "").split(".")[0]]
        else:
            names = []
        assert not FORBIDDEN_MODULES.intersection(names), f"{path.name} imports {names}"
        if isinstance(node, ast.Constant):
            assert not isinstance(node.value, float), f"{path.name}:{node.lineno}: float literal"
        if isinstance(node, ast.BinOp | ast.AugAssign):
            assert not isinstance(node.op, ast.Div), f"{path.name}:{node.lineno}: true division"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"float", "open", "print", "input", "hash"}, (
                f"{path.name}:{node.lineno}: calls {node.func.id}"
            )


def test_sources_were_found() -> None:
    assert len(SOURCES) > 10
