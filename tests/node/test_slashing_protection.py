"""Slashing protection: the store's refusals cover every slashable pair, its
writes are atomic and fsynced, the old database record migrates, the
interchange file round-trips, and a validator whose database was purged
resyncs without being slashed."""

import itertools
import json
import os
import stat
from pathlib import Path

import msgpack
import pytest

from genesis.spec import DEV_VALIDATOR_BOND, dev_spec, load_spec, local_spec
from node.chain import Chain
from node.finality import FinalityGadget
from node.slashing_interchange import InterchangeError, export_interchange, import_interchange
from node.slashing_protection import SignedRange, SlashingProtection, SlashingProtectionError
from node.storage import LAST_VOTE, ChainStore
from runtime.crypto import dev_keypair, to_address
from runtime.pallets import staking
from runtime.types import votes_conflict
from tests.chain import ALICE, BOB
from tests.nodeproc import ValidatorProcess, vcoin, wait_until
from tools.testnet import plan_testnet

CHAIN = dev_spec().chain_id
HASH = bytes(range(32))


def test_every_vote_the_store_admits_is_safe_against_all_earlier_ones() -> None:
    """Against the runtime's own rule: walk every sequence of small links and
    check each admitted vote pairs safely with everything admitted before."""
    links = [(s, t) for s in range(5) for t in range(s + 1, 7)]
    for first, second, third in itertools.product(links, repeat=3):
        signed: list[tuple[int, int]] = []
        last: SignedRange | None = None
        for link in (first, second, third):
            if last is not None and not last.permits(*link):
                continue
            for earlier in signed:
                assert votes_conflict(earlier, link, earlier == link) is None, (earlier, link)
            signed.append(link)
            new = SignedRange(*link)
            last = new if last is None else last.merge(new)


def test_the_store_refuses_lower_targets_and_sources_and_remembers_after_reopening(tmp_path: Path) -> None:
    store = SlashingProtection(tmp_path, CHAIN)
    key = ALICE.public
    assert store.get(key) is None
    assert store.register(key, 3, 5, HASH)
    assert not store.register(key, 3, 5, HASH)  # the same height again (double vote)
    assert not store.register(key, 4, 4, HASH)  # target not above the last one
    assert not store.register(key, 2, 9, HASH)  # a lower source: would surround (3, 5)
    assert not store.register(key, 9, 9, HASH)  # not a vote at all
    assert store.register(key, 4, 6, HASH)
    reopened = SlashingProtection(tmp_path, CHAIN)
    assert reopened.get(key) == SignedRange(4, 6, HASH)
    assert not reopened.permits(key, 4, 6) and reopened.permits(key, 5, 7)
    assert reopened.get(BOB.public) is None  # one history per key
    assert SlashingProtection(tmp_path, local_spec().chain_id).get(key) is None  # and per chain
    assert reopened.pubkeys() == [key]


def test_writes_are_fsynced_and_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SlashingProtection(tmp_path, CHAIN)
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    assert store.register(ALICE.public, 1, 2, HASH)
    assert len(synced) >= 2  # the file, then the directory entry of the rename
    path = store.root / f"{ALICE.public.hex()}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()

    def crash(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.register(ALICE.public, 2, 3, HASH)
    assert path.read_bytes() == before
    assert [p.name for p in store.root.iterdir()] == [path.name]  # no temporary file left behind
    assert SlashingProtection(tmp_path, CHAIN).get(ALICE.public) == SignedRange(1, 2, HASH)


def test_an_unreadable_record_is_an_error_never_an_empty_history(tmp_path: Path) -> None:
    store = SlashingProtection(tmp_path, CHAIN)
    store.register(ALICE.public, 1, 2, HASH)
    path = store.root / f"{ALICE.public.hex()}.json"
    path.write_text('{"version": 1, "chain_id": ')
    with pytest.raises(SlashingProtectionError, match="unreadable"):
        SlashingProtection(tmp_path, CHAIN).get(ALICE.public)
    path.write_text(json.dumps({**json.loads(_record(1, 2)), "source_number": 5}))
    with pytest.raises(SlashingProtectionError, match="bad heights"):
        SlashingProtection(tmp_path, CHAIN).get(ALICE.public)


def _record(source: int, target: int) -> str:
    return json.dumps({"version": 1, "chain_id": "0x" + CHAIN.hex(), "pubkey": "0x" + ALICE.public.hex(),
                       "source_number": source, "target_number": target, "target_hash": None})  # fmt: skip


def _chain(base: Path, blocks: int = 0) -> Chain:
    chain = Chain(ChainStore(base / "db"), dev_spec())
    for slot in range(1, blocks + 1):
        chain.author_block(ALICE, slot, [])
    return chain


def test_the_gadget_records_each_vote_before_signing_and_a_wiped_database_cannot_vote_again(
    tmp_path: Path,
) -> None:
    chain = _chain(tmp_path, 2)
    gadget = FinalityGadget(chain, ALICE)
    vote, _ = gadget.vote_on_best()
    assert vote is not None and vote.target.number == 2
    on_disk = SlashingProtection(tmp_path, CHAIN).get(ALICE.public)
    assert on_disk == SignedRange(vote.source.number, 2, vote.target.hash)
    assert gadget.vote_on_best() == (None, None)  # nothing new to vote on
    assert chain.store.meta(LAST_VOTE) is None  # the database no longer holds it
    chain.store.close()

    for entry in (tmp_path / "db").iterdir():  # purge the chain, keep the rest
        entry.unlink()
    (tmp_path / "db").rmdir()
    fresh = _chain(tmp_path, 2)
    again = FinalityGadget(fresh, ALICE)
    assert again.vote_on_best() == (None, None)  # height 2 was voted before the wipe
    fresh.author_block(ALICE, 3, [])
    vote, _ = again.vote_on_best()
    assert vote is not None and vote.target.number == 3
    fresh.store.close()


def test_the_last_vote_in_an_old_database_migrates_taking_the_maximum(tmp_path: Path) -> None:
    chain = _chain(tmp_path, 3)
    chain.store.put_meta(LAST_VOTE, msgpack.packb([2, 7]))
    gadget = FinalityGadget(chain, ALICE)
    assert SlashingProtection(tmp_path, CHAIN).get(ALICE.public) == SignedRange(2, 7)
    assert gadget.vote_on_best() == (None, None)  # #3 <= 7
    chain.store.close()

    # the store knows more than the database: the store's record stays
    SlashingProtection(tmp_path, CHAIN).merge(ALICE.public, SignedRange(5, 9, HASH))
    reopened = Chain(ChainStore(tmp_path / "db"), dev_spec())
    FinalityGadget(reopened, ALICE)
    assert SlashingProtection(tmp_path, CHAIN).get(ALICE.public) == SignedRange(5, 9, HASH)
    reopened.store.close()


def test_the_interchange_round_trips_merges_upwards_and_refuses_another_chain(tmp_path: Path) -> None:
    source = SlashingProtection(tmp_path / "a", CHAIN)
    source.register(ALICE.public, 3, 8, HASH)
    source.register(BOB.public, 1, 2, HASH)
    document = json.loads(json.dumps(export_interchange(source)))
    assert document["metadata"] == {"interchange_format_version": "5", "genesis": "0x" + CHAIN.hex()}
    by_key = {entry["pubkey"]: entry["signed_votes"] for entry in document["data"]}
    assert by_key["0x" + ALICE.public.hex()] == [
        {"source_number": "3", "target_number": "8", "target_hash": "0x" + HASH.hex()}
    ]

    target = SlashingProtection(tmp_path / "b", CHAIN)
    target.register(BOB.public, 4, 5, HASH)
    results = import_interchange(target, document)
    assert {r.pubkey for r in results} == {ALICE.public, BOB.public}
    assert target.get(ALICE.public) == SignedRange(3, 8, HASH)
    assert target.get(BOB.public) == SignedRange(4, 5, HASH)  # never lowered
    assert SlashingProtection(tmp_path / "b", CHAIN).get(ALICE.public) == SignedRange(3, 8, HASH)

    # vc1 addresses, integer heights, several votes per key: the maxima
    other = {
        "metadata": {"interchange_format_version": "5", "genesis": "0x" + CHAIN.hex()},
        "data": [{"pubkey": to_address(BOB.public), "signed_votes": [
            {"source_number": 6, "target_number": 7}, {"source_number": "2", "target_number": "11"}]}],
    }  # fmt: skip
    import_interchange(target, other)
    assert target.get(BOB.public) == SignedRange(6, 11)

    foreign = SlashingProtection(tmp_path / "c", local_spec().chain_id)
    with pytest.raises(InterchangeError, match="is for chain"):
        import_interchange(foreign, document)
    broken = {**other, "data": [*document["data"], {"pubkey": "0x12", "signed_votes": []}]}
    untouched = SlashingProtection(tmp_path / "d", CHAIN)
    with pytest.raises(InterchangeError, match=r"data\[2\]"):
        import_interchange(untouched, broken)
    assert untouched.pubkeys() == []  # all checked before anything is written


@pytest.mark.slow
def test_a_validator_whose_database_is_purged_resyncs_without_being_slashed(tmp_path: Path) -> None:
    plan = plan_testnet(tmp_path / "net", 4, slot_seconds=1)
    nodes = [ValidatorProcess(plan, i) for i in range(4)]
    alice, victim = nodes[0], nodes[3]
    dave = dev_keypair("//dave").public
    chain_id = load_spec(str(plan.spec_path)).chain_id

    def record() -> SignedRange | None:  # a fresh read each time: the node writes it
        return SlashingProtection(victim.base_path, chain_id).get(dave)

    def finalized() -> int:
        return int(alice.rpc("system_health")["finalizedNumber"])

    try:
        for node in nodes:
            node.start(wait=False)
        for node in nodes:
            node.wait_ready(timeout=60)
        wait_until(lambda: (r := record()) is not None and r.target >= 3, 90, "the victim's votes")
        victim.stop()
        before = record()
        assert before is not None
        purged = vcoin("node", "purge-chain", "--base-path", str(victim.base_path), "-y")
        assert purged.returncode == 0, purged.stderr
        assert not (victim.base_path / "db").exists() and "slashing_protection" in purged.stdout
        assert record() == before
        stalled = finalized()
        wait_until(lambda: finalized() >= stalled + 2, 60, "finality without the victim")

        victim.start(wait=False)
        victim.wait_ready(timeout=60)
        wait_until(lambda: victim.best() >= alice.best() - 1, 90, "the purged validator to resync")
        wait_until(lambda: (r := record()) is not None and r.target > before.target, 60, "its next vote")
        assert f"last voted #{before.source} -> #{before.target}" in victim.log.read_text()
        resumed = finalized()
        wait_until(lambda: finalized() >= resumed + 3, 60, "finality with the victim back")

        ledger = alice.rpc("vcoin_staking", to_address(dave))
        assert ledger["bonded"] == DEV_VALIDATOR_BOND and ledger["role"] == staking.Role.VALIDATOR
        assert to_address(dave) in alice.rpc("vcoin_validators")
        for number in range(1, alice.best() + 1):
            events = alice.rpc("chain_getEvents", alice.rpc("chain_getBlockHash", number))
            assert not [e for e in events if e["pallet"] == "slashing"], (number, events)
        for node in nodes:
            assert "conflicting finality votes" not in node.log.read_text()
    finally:
        for node in nodes:
            node.stop()
