"""The provider's session log survives a restart and a torn append, and its
proofs check against the roots it settles."""

from pathlib import Path

from offchain.session_store import Served, SessionStore
from runtime.codec import blake2b_256
from runtime.session_log import verify_proof


def _serve(store: SessionStore, session: int, n: int) -> None:
    log = store.log(session)
    for i in range(n):
        request, result = b"request %d" % i, b"result %d" % i
        cheque = {"seq": log.count + 1, "units": 7 * (log.count + 1)}
        log.append(
            Served(log.count + 1, request, result, 7), blake2b_256(request), blake2b_256(result), cheque
        )


def test_log_reopens_with_the_same_root_and_records(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    _serve(store, 3, 5)
    before = store.log(3).root()
    again = SessionStore(tmp_path).log(3)
    assert again.count == 5 and again.root() == before
    assert again.served(4) == Served(5, b"request 4", b"result 4", 7)
    assert again.cheque() == {"seq": 5, "units": 35}
    assert SessionStore(tmp_path).known() == [3]


def test_torn_append_is_cut_back(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    _serve(store, 1, 3)
    root_of_three = store.log(1).root()
    folder = tmp_path / "1"
    with open(folder / "records", "ab") as handle:
        handle.write(b"\x00\x00\x01\x00partial")  # a frame cut short by a crash
    again = SessionStore(tmp_path).log(1)
    assert again.count == 3 and again.root() == root_of_three
    _serve(SessionStore(tmp_path), 1, 1)
    assert SessionStore(tmp_path).log(1).served(3).request == b"request 0"


def test_a_leaf_proves_against_an_earlier_settled_root(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    _serve(store, 2, 6)
    log = store.log(2)
    settled_root = log.root()
    _serve(store, 2, 4)
    assert verify_proof(settled_root, log.leaves[5], 5, 6, log.proof(5, 6))
    assert not verify_proof(log.root(), log.leaves[5], 5, 6, log.proof(5, 6))


def test_forget_removes_the_session(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    _serve(store, 9, 1)
    store.forget(9)
    assert store.known() == []
