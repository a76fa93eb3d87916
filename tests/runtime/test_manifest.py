"""The manifest is the one list of the runtime's pallets: every call table,
error and event declaration of a pallet module is in it, and the executive
runs the hooks in its order."""

import ast
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

import runtime.pallets
from runtime import manifest
from runtime.dispatch import Calls
from runtime.errors import PalletError
from runtime.types import PalletEvent
from runtime.weights import CALL_WEIGHTS

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"


def _pallet_modules() -> list[ModuleType]:
    return [
        importlib.import_module(f"runtime.pallets.{info.name}")
        for info in pkgutil.iter_modules(runtime.pallets.__path__)
    ]


def _declared(kind: type) -> set[object]:
    found: set[object] = set()
    for module in _pallet_modules():
        for value in vars(module).values():
            if isinstance(value, kind) or (
                isinstance(value, type) and value is not kind and issubclass(value, kind)
            ):
                found.add(value)
    return found


def test_every_declared_call_table_is_in_the_manifest() -> None:
    listed = {id(calls) for pallet in manifest.PALLETS for calls in pallet.calls}
    tables = [c for c in _declared(Calls) if isinstance(c, Calls)]
    assert tables and all(id(calls) in listed for calls in tables), [c.pallet for c in tables]


def test_every_declared_error_and_event_is_in_the_manifest() -> None:
    listed = {p.errors for p in manifest.PALLETS} | {p.events for p in manifest.PALLETS}
    declared = _declared(PalletError) | _declared(PalletEvent)
    assert declared and declared <= listed


def test_declared_names_are_their_own_values() -> None:
    """Events and errors are visible over RPC by these strings."""
    for pallet in manifest.PALLETS:
        for enum in (pallet.errors, pallet.events):
            if enum is not None:
                assert enum.pallet == pallet.name
                assert all(member.value == member.name for member in enum)


def test_the_call_table_is_the_manifests() -> None:
    expected = {(p.name, spec.name) for p in manifest.PALLETS for calls in p.calls for spec in calls}
    assert set(manifest.CALLS) == expected
    assert ("staking", "provide") not in manifest.CALLS  # providers register in the registry
    assert set(CALL_WEIGHTS) <= set(manifest.CALLS), set(CALL_WEIGHTS) - set(manifest.CALLS)


def test_hooks_run_in_the_manifests_order() -> None:
    names = [p.name for p in manifest.PALLETS]
    finalizing = [p.name for p in manifest.PALLETS if p.on_finalize is not None]
    assert finalizing == [
        "verification", "known_answers", "jobs", "sessions", "emission", "staking", "governance",
    ]  # fmt: skip
    assert [p.name for p in manifest.PALLETS if p.on_initialize is not None] == ["vesting"]
    genesis = [p.name for p in manifest.PALLETS if p.genesis is not None]
    assert genesis.index("balances") < genesis.index("staking")  # endowments before bonds
    assert len(names) == len(set(names))


def test_the_executive_imports_no_pallet_for_its_side_effect() -> None:
    assert "noqa: F401" not in (RUNTIME / "executive.py").read_text()


def test_the_executive_swallows_no_exception_it_does_not_declare() -> None:
    """Undeclared exceptions are `runtime.faults`' to judge; the executive
    only cleans up after them (and raises them again)."""
    for node in ast.walk(ast.parse((RUNTIME / "executive.py").read_text())):
        if isinstance(node, ast.ExceptHandler):
            assert node.type is not None, f"bare except at line {node.lineno}"
            caught = ast.unparse(node.type)
            assert caught != "Exception", f"a catch-all at line {node.lineno}"
            if caught == "BaseException":
                last = node.body[-1]
                assert isinstance(last, ast.Raise) and last.exc is None, f"swallowed at line {node.lineno}"
