"""The Python SDK for job submitters.

    from tools.sdk import Market
    job = Market("http://127.0.0.1:9944", key="//bob").submit("embed", "all-minilm-l6-v2", ["some text"], max_fee="1")
    print(job.result()["vectors"][0][:4])

`key` is a `//dev` name, a `Keypair`, or a keystore name (with `password`).

Sessions (prepaid serving, settled in batches by the provider):

    session = market.session("all-minilm-l6-v2", deposit="1", max_price="0.001")
    cheque = session.cheque(units_so_far=1, request_hash=request_hash(b"the request"))
    ...  # hand the cheque to the provider with the request
    session.close()  # the unused deposit comes back after the last settle window
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.canonical import encode
from node.cli import parse_vc
from node.keystore import Keystore, resolve_key
from runtime.constants import MAX_INLINE_INPUT
from runtime.crypto import Keypair, from_address
from tools.cheque import ChequeBook
from tools.client import DEFAULT_RPC_URL, VcoinClient, WaitTimeout
from tools.job_watch import JobWatch, Transition
from tools.results import render

log = logging.getLogger("vcoin.sdk")
DONE = ("revealed", "settled")
ENDED = ("refunded", "rejected")


class JobFailed(Exception):
    """The job ended without a result (refunded, or its submission failed)."""


@dataclass
class Job:
    id: int
    kind: str
    client: VcoinClient
    since: int | None = None  # the block it was submitted in: its transitions are read from there

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self.client.call("vcoin_job", self.id)
        return result

    def wait(
        self, timeout: float = 600.0, on_tick: Callable[[dict[str, Any]], None] | None = None,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Until the result is revealed (then settlement follows on its own).
        Each transition (assigned, running, committed, reassigned...) goes to
        `on_transition` as it happens; once the job cannot succeed (refunded,
        rejected) `JobFailed` says why and when, without waiting for the deadline."""
        deadline = time.monotonic() + timeout
        since = self.since if self.since is not None else int(self.client.call("system_health")["bestNumber"])
        watch = JobWatch(self.client, self.id, since - 1)
        while True:
            for transition in watch.look():
                if transition.final:
                    raise JobFailed(transition.text)
                if on_transition is not None:
                    on_transition(transition)
            status = self.status()
            if on_tick is not None:
                on_tick(status)
            if status["status"] in DONE:  # its reveal's block may be newer than the last look
                for transition in watch.look():
                    if on_transition is not None and not transition.final:
                        on_transition(transition)
                return status
            if status["status"] in ENDED:  # (its block's events said why, unless they were out of reach)
                raise JobFailed(f"job {self.id} was {status['status']}")
            if time.monotonic() > deadline:
                raise WaitTimeout(f"job {self.id} is still {status['status']} after {timeout:.0f} s")
            time.sleep(0.5)

    def result_bytes(self, fetch_timeout: float = 120.0) -> bytes:
        """The canonical result; a large one is fetched from peers first."""
        deadline = time.monotonic() + fetch_timeout
        while True:
            answer = self.client.call("vcoin_jobResult", self.id)
            if answer["result"] is not None:
                return bytes.fromhex(answer["result"][2:])
            if not answer.get("fetching") or time.monotonic() > deadline:
                raise JobFailed(f"job {self.id} has no result available here (status {answer['status']})")
            time.sleep(0.5)

    def result(
        self, timeout: float = 600.0, on_transition: Callable[[Transition], None] | None = None
    ) -> dict[str, Any]:
        """The rendered result; each transition on the way goes to
        `on_transition`, or to the `vcoin.sdk` log at INFO."""
        self.wait(timeout, on_transition=on_transition or (lambda t: log.info("job %d: %s", self.id, t.text)))
        return render(self.kind, self.result_bytes())


class SessionFailed(Exception):
    """The chain refused a session's call (open or close)."""


class Session:
    """A session opened by this SDK: its record, its close, and the cheques its
    key signs (one per request, with the cumulative units so far)."""

    def __init__(self, session_id: int, client: VcoinClient, key: Keypair, signer: Keypair) -> None:
        self.id = session_id
        self.client = client
        self.key = key  # the opener: pays, and may close
        self.book = ChequeBook(signer, client.chain_id(), session_id)

    def status(self) -> dict[str, Any] | None:
        """The session's record (`vcoin_session`), None once it has ended."""
        found: dict[str, Any] | None = self.client.call("vcoin_session", self.id)
        return found

    def cheque(self, units_so_far: int, request_hash: bytes) -> dict[str, Any]:
        """Sign the next request's cheque: `{seq, units, request_hash, signature}`,
        the argument `sessions.settle` takes (`tools.cheque.cheque_json` for JSON)."""
        return self.book.next(units_so_far, request_hash)

    def close(self, timeout: float = 120.0) -> dict[str, Any]:
        """Close it; the provider may still settle for `SESSION_CLOSE_WINDOW`
        blocks, then the unused deposit is refunded. Returns the inclusion."""
        tx = self.client.submit_call(self.key, "sessions", "close", {"session": self.id})
        status = self.client.wait(tx, timeout=timeout)
        if not status["success"]:
            raise SessionFailed(f"the chain refused the close: {status['error']} ({status.get('detail')})")
        return status

    def wait_ended(self, timeout: float = 120.0) -> None:
        """Until the session has ended (after the last settle window, refunded)."""
        deadline = time.monotonic() + timeout
        while (found := self.status()) is not None:
            if time.monotonic() > deadline:
                raise WaitTimeout(
                    f"session {self.id} is still {found['status']} (ends at block {found['endsAt']})"
                )
            time.sleep(0.5)


class Market:
    def __init__(
        self, url: str = DEFAULT_RPC_URL, key: Keypair | str | None = None, password: str | None = None,
        keystore: Path | None = None,
    ) -> None:  # fmt: skip
        self.client = VcoinClient(url, timeout=30)
        if isinstance(key, str):
            store = Keystore(keystore or Path.home() / ".vcoin" / "keystore")
            key = resolve_key(store, key, lambda: password or "")
        self.key = key

    def model(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.client.call("vcoin_model", name)
        return found

    def submit(
        self, kind: str, model: str, input: Any, max_fee: str | int, options: dict[str, int] | None = None,
        deadline: int = 200, min_reputation: int = 0,
    ) -> Job:  # fmt: skip
        """Submit a job; `max_fee` in VCoin (a string like "0.5") or base units (int)."""
        if self.key is None:
            raise ValueError("a Market needs a key to submit jobs")
        model_hash = bytes.fromhex(self.model(model)["hash"][2:])
        fee = parse_vc(max_fee) if isinstance(max_fee, str) else int(max_fee)
        data = encode(input)
        inline, input_hash, size = (data, b"", 0) if len(data) <= MAX_INLINE_INPUT else (b"", b"", len(data))
        if not inline:
            input_hash = bytes.fromhex(self.client.call("vcoin_putBlob", "0x" + data.hex())[2:])
        args = {"kind": kind, "model": model_hash, "input": inline, "input_hash": input_hash, "input_size": size,
                "options": options or {}, "max_fee": fee, "deadline": deadline, "min_reputation": min_reputation}  # fmt: skip
        tx = self.client.submit_call(self.key, "jobs", "submit", args)
        status = self.client.wait(tx, timeout=120)  # the job id comes with the inclusion
        if not status["success"]:
            raise JobFailed(f"the chain refused the job: {status['error']} ({status.get('detail')})")
        submitted = next(e for e in status["events"] if e["name"] == "Submitted")
        return Job(int(submitted["data"]["job"]), kind, self.client, int(status["blockNumber"]))

    def session(
        self, model: str, deposit: str | int, max_price: str | int, provider: str | bytes | None = None,
        expiry_blocks: int = 1_000, min_reputation: int = 0, session_key: Keypair | None = None,
        timeout: float = 120.0,
    ) -> Session:  # fmt: skip
        """Open a session with `provider` (a vc1 address or account id), or one
        the chain draws among the model's providers; amounts in VCoin (a string)
        or base units (int). Cheques are signed by `session_key`, delegated in
        the open, or by the Market's own key."""
        if self.key is None:
            raise ValueError("a Market needs a key to open sessions")
        if expiry_blocks < 1:
            raise ValueError("a session lasts at least one block")
        model_hash = bytes.fromhex(self.model(model)["hash"][2:])
        named = from_address(provider) if isinstance(provider, str) else (provider or b"")
        best = int(self.client.call("system_health")["bestNumber"])
        args = {"model": model_hash, "provider": named, "deposit": _base_units(deposit),
                "max_price": _base_units(max_price), "min_reputation": min_reputation,
                "expiry": best + expiry_blocks, "session_key": session_key.public if session_key else b""}  # fmt: skip
        tx = self.client.submit_call(self.key, "sessions", "open", args)
        status = self.client.wait(tx, timeout=timeout)
        if not status["success"]:
            raise SessionFailed(f"the chain refused the session: {status['error']} ({status.get('detail')})")
        opened = next(e for e in status["events"] if e["pallet"] == "sessions" and e["name"] == "Opened")
        return Session(int(opened["data"]["session"]), self.client, self.key, session_key or self.key)

    def job(self, job_id: int) -> Job:
        return Job(job_id, self.client.call("vcoin_job", job_id)["kind"], self.client)


def _base_units(value: str | int) -> int:
    return parse_vc(value) if isinstance(value, str) else int(value)
