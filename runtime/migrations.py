"""Storage versions and migrations (FRAME's `StorageVersion` and
`OnRuntimeUpgrade`).

Each pallet of the manifest declares the version of its storage layout
(`Pallet.storage_version`, 0 for the layout the chain started with); the
chain holds the version its state is in under `<pallet>/:storage_version`,
absent meaning 0, so a chain that never migrated has no such key. A build
whose code is ahead migrates the state one version at a time, inside the
first block it builds or imports (so every node does the same thing at the
same height and the state root covers it). A node whose chain is ahead of
its code, or which lacks a step, refuses to start, naming the versions.
"""

from collections.abc import Callable

from runtime import manifest
from runtime.codec import decode, encode
from runtime.state import State

Migration = Callable[[State], None]

# (pallet, from version) -> the step that takes that pallet's storage to the next version.
MIGRATIONS: dict[tuple[str, int], Migration] = {}


def version_key(pallet: str) -> bytes:
    return f"{pallet}/:storage_version".encode()


def stored_version(state: State, pallet: str) -> int:
    raw = state.get(version_key(pallet))
    value = 0 if raw is None else decode(raw)
    return value if type(value) is int else -1


def problems(state: State) -> list[str]:
    """Why this code cannot run on `state`, one line a pallet (empty: it can)."""
    found = []
    for pallet in manifest.PALLETS:
        on_chain, code = stored_version(state, pallet.name), pallet.storage_version
        missing = [v for v in range(max(on_chain, 0), code) if (pallet.name, v) not in MIGRATIONS]
        if on_chain > code or on_chain < 0:
            found.append(
                f"pallet {pallet.name}: the chain's storage is at version {on_chain}, "
                f"this build knows up to version {code}: upgrade vcoin"
            )
        elif missing:
            found.append(
                f"pallet {pallet.name}: no migration from storage version {missing[0]} to {missing[0] + 1}"
            )
    return found


def upgrade(state: State) -> list[tuple[str, int, int]]:
    """Run every migration the state needs; (pallet, from, to) of each run."""
    done = []
    for pallet in manifest.PALLETS:
        version = stored_version(state, pallet.name)
        while 0 <= version < pallet.storage_version:
            MIGRATIONS[(pallet.name, version)](state)
            version += 1
            state.set(version_key(pallet.name), encode(version))
            done.append((pallet.name, version - 1, version))
    return done
