"""Publishing a provider's sampled (and challenged) session leaves.

After a settle, the chain draws leaves of the batch for verification
(`runtime.pallets.session_audits`), and the session's opener may challenge
others (`session_challenges`); the provider has `SESSION_PUBLISH_WINDOW`
blocks to show each one with `sessions.publish` (request, result, units and
the Merkle path to the settled root), or it is slashed like a missed reveal.
`publish_due` is called by the serving worker after each imported block: it
reads this provider's owed leaves from the state, takes them from the
`SessionStore`, and submits them, one call per session carrying all its
owed leaves (split only where they would not fit one extrinsic,
`MAX_EXTRINSIC_BYTES`, or exceed `MAX_SAMPLED_LEAVES` items), again after
`RESEND_AFTER` blocks for those the chain still owes (a transaction lost
from the pool, a reorg).
"""

import logging
from typing import Any
from weakref import WeakKeyDictionary

from offchain.provider import ChainView
from offchain.session_store import SessionStore
from runtime.codec import encode
from runtime.constants import MAX_EXTRINSIC_BYTES, MAX_SAMPLED_LEAVES
from runtime.pallets import session_audits
from runtime.types import Call

log = logging.getLogger("vcoin.sessions")
RESEND_AFTER = 3  # blocks without effect before a publication is sent again
# bytes around a call's items in its extrinsic: the signer, nonce, tip and
# signature, the call's names, the session and the list's own header
ENVELOPE = 512

# per store: (session, audit's batch, leaf) -> block it was last sent in (lost on restart: then sent again at once)
_sent: "WeakKeyDictionary[SessionStore, dict[tuple[int, int, int], int]]" = WeakKeyDictionary()


def publish_due(chain: ChainView, store: SessionStore, number: int) -> None:
    """Submit `sessions.publish` for this provider's owed leaves not yet
    published on chain (`number`: the block just imported)."""
    sent = _sent.setdefault(store, {})
    owed: set[tuple[int, int, int]] = set()
    due: dict[int, list[tuple[tuple[int, int, int], dict[str, Any]]]] = {}
    for audit in session_audits.owed(chain.state(), chain.account):
        for index, check in zip(audit.leaves, audit.checks, strict=True):
            if check:
                continue
            key = (audit.session, audit.batch, index)
            owed.add(key)
            if key in sent and number < sent[key] + RESEND_AFTER:
                continue
            session_log = store.log(audit.session)
            if session_log.count < audit.count:
                log.error("session %d: leaf %d was settled but is not in the log: it cannot be published",
                          audit.session, index)  # fmt: skip
                sent[key] = number
                continue
            served = session_log.served(index)
            item = {"index": index, "seq": served.seq, "request": served.request, "result": served.result,
                    "units": served.units, "proof": session_log.proof(index, audit.count)}  # fmt: skip
            due.setdefault(audit.session, []).append((key, item))
    for session, items in due.items():
        for chunk in split(items):
            for key, _ in chunk:
                sent[key] = number
            leaves = [item["index"] for _, item in chunk]
            try:
                chain.submit_call(Call("sessions", "publish", {"session": session,
                                                               "items": [item for _, item in chunk]}))  # fmt: skip
                log.info("session %d: leaves %s published", session, leaves)
            except ValueError as exc:
                log.warning("session %d: publication of leaves %s refused: %s", session, leaves, exc)
    for key in [k for k in sent if k not in owed]:
        del sent[key]


def split(items: list[tuple[Any, dict[str, Any]]]) -> list[list[tuple[Any, dict[str, Any]]]]:
    """The items in order, in as few calls as fit: each at most
    `MAX_SAMPLED_LEAVES` items and `MAX_EXTRINSIC_BYTES` once signed."""
    calls: list[list[tuple[Any, dict[str, Any]]]] = []
    size = 0
    for entry in items:
        grows = len(encode(entry[1]))
        if not calls or len(calls[-1]) >= MAX_SAMPLED_LEAVES or size + grows > MAX_EXTRINSIC_BYTES - ENVELOPE:
            calls.append([])
            size = 0
        calls[-1].append(entry)
        size += grows
    return calls
