"""The group's store is open to whoever reaches the lead's port: with the
members' keys, a vector a stranger writes under a member's key breaks the
round instead of entering the average; without them it would."""

import threading
from datetime import timedelta
from typing import Any

import pytest

from agent.diloco_group import Group, GroupBroken
from offchain.group_keys import pair_key
from runtime.crypto import Keypair

torch = pytest.importorskip("torch")


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keys(rank: int, providers: list[Keypair]) -> list[bytes]:
    return [b"" if r == rank else pair_key(providers[rank], p.public, 7) for r, p in enumerate(providers)]


def test_each_pair_derives_one_key_that_nobody_else_can() -> None:
    a, b, c = Keypair.generate(), Keypair.generate(), Keypair.generate()
    assert pair_key(a, b.public, 7) == pair_key(b, a.public, 7)
    assert pair_key(a, b.public, 7) != pair_key(c, b.public, 7)  # a stranger with its own key
    assert pair_key(a, b.public, 7) != pair_key(a, b.public, 8)  # another job


def _lead_and_stranger(keys: list[bytes] | None) -> Any:
    """Member 0 of 2 gathers round 0, while a stranger, not member 1, wrote
    member 1's vector into the store first."""
    port = _port()
    out: dict[str, Any] = {}

    def lead() -> None:
        group = Group.join(0, 2, f"127.0.0.1:{port}", timeout=30, keys=keys)
        try:
            out["parts"] = group.gather(torch.ones(4))
        except GroupBroken as exc:
            out["broken"] = str(exc)
        finally:
            group.close()

    thread = threading.Thread(target=lead)
    thread.start()
    stranger = torch.distributed.TCPStore("127.0.0.1", port, 2, False, timedelta(seconds=30))
    forged = torch.full((4,), 1000.0).numpy().tobytes()
    stranger.set("r0/1", forged + (bytes(32) if keys else b""))  # the tags it cannot compute
    stranger.set("done/1", b"1")  # as member 1 would, so the lead's close need not wait for it
    thread.join(timeout=60)
    return out


def test_a_strangers_vector_breaks_the_round_instead_of_poisoning_the_average() -> None:
    providers = [Keypair.generate(), Keypair.generate()]
    open_store = _lead_and_stranger(None)
    assert float(open_store["parts"][1][0]) == 1000.0  # without keys, the stranger's vector is averaged in
    guarded = _lead_and_stranger(_keys(0, providers))
    assert "authentication" in guarded["broken"]


def test_members_with_their_keys_gather_each_others_vectors() -> None:
    providers = [Keypair.generate(), Keypair.generate()]
    port, out = _port(), {}

    def member(rank: int) -> None:
        group = Group.join(rank, 2, f"127.0.0.1:{port}", timeout=30, keys=_keys(rank, providers))
        out[rank] = group.gather(torch.full((3,), float(rank + 1)))
        group.close()

    threads = [threading.Thread(target=member, args=(rank,)) for rank in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [p.tolist() for p in out[0]] == [p.tolist() for p in out[1]] == [[1.0] * 3, [2.0] * 3]


def test_keys_are_checked_before_the_group_forms() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Group.join(0, 2, "127.0.0.1:1", keys=[b"", b"short"])
    with pytest.raises(ValueError, match="only through the store"):
        Group.join(0, 2, "127.0.0.1:1", backend="gloo", keys=[b"", bytes(32)])


_LEFT_OPEN = """
import atexit, os, sys, threading

def beats_stopped() -> None:  # registered first, so it runs after the module's own hook
    if any(t.name == "group beat" and t.is_alive() for t in threading.enumerate()):
        os._exit(3)

atexit.register(beats_stopped)
import torch
import agent.diloco_group
from agent.diloco_group import Group

agent.diloco_group.BEAT_SECONDS = 1e-5  # always inside a store call, as a beat at exit may be

groups = []
def member(rank: int) -> None:
    group = Group.join(rank, 2, sys.argv[1], timeout=30)
    group.gather(torch.full((3,), float(rank)))
    groups.append(group)  # and never closed

threads = [threading.Thread(target=member, args=(rank,)) for rank in range(2)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(60)
assert len(groups) == 2 and sum(t.name == "group beat" for t in threading.enumerate()) == 2
print("gathered", flush=True)
"""


def test_groups_left_open_stop_beating_before_the_process_exits() -> None:
    """A beat still inside a store call while the interpreter finalizes
    aborts the process ("terminate called without an active exception",
    exit 134, most runs without the exit hook): the exit stops every beat
    first."""
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run(
        [sys.executable, "-c", _LEFT_OPEN, f"127.0.0.1:{_port()}"],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "gathered" in done.stdout
