"""Publishing a provider's sampled session leaves.

After a settle, the chain draws leaves of the batch for verification
(`runtime.pallets.session_audits`); the provider has `SESSION_PUBLISH_WINDOW`
blocks to show each one with `sessions.publish` (request, result, units and
the Merkle path to the settled root), or it is slashed like a missed reveal.
`publish_due` is called by the serving worker after each imported block: it
reads this provider's owed leaves from the state, takes them from the
`SessionStore`, and submits them, again after `RESEND_AFTER` blocks if the
chain still owes them (a transaction lost from the pool, a reorg).
"""

import logging
from weakref import WeakKeyDictionary

from offchain.provider import ChainView
from offchain.session_store import SessionStore
from runtime.pallets import session_audits
from runtime.types import Call

log = logging.getLogger("vcoin.sessions")
RESEND_AFTER = 3  # blocks without effect before a publication is sent again

# per store: (session, leaf) -> block it was last sent in (lost on restart: then sent again at once)
_sent: "WeakKeyDictionary[SessionStore, dict[tuple[int, int], int]]" = WeakKeyDictionary()


def publish_due(chain: ChainView, store: SessionStore, number: int) -> None:
    """Submit `sessions.publish` for each of this provider's sampled leaves not
    yet published on chain (`number`: the block just imported)."""
    sent = _sent.setdefault(store, {})
    owed: set[tuple[int, int]] = set()
    for audit in session_audits.owed(chain.state(), chain.account):
        for index, check in zip(audit.leaves, audit.checks, strict=True):
            if check:
                continue
            key = (audit.session, index)
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
            args = {"session": audit.session, "index": index, "seq": served.seq, "request": served.request,
                    "result": served.result, "units": served.units,
                    "proof": session_log.proof(index, audit.count)}  # fmt: skip
            sent[key] = number
            try:
                chain.submit_call(Call("sessions", "publish", args))
                log.info("session %d: sampled leaf %d published", audit.session, index)
            except ValueError as exc:
                log.warning("session %d: publication of leaf %d refused: %s", audit.session, index, exc)
    for key in [k for k in sent if k not in owed]:
        del sent[key]
