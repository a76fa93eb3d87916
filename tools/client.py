"""A small Python client for a VCoin node's JSON-RPC (the SDK builds on it)."""

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from itertools import count
from typing import Any

from runtime.crypto import Keypair, to_address
from runtime.types import Call, Extrinsic

DEFAULT_RPC_URL = "http://127.0.0.1:9944"


class NodeUnreachable(Exception):
    """No node answered at the RPC URL."""


class RpcFailure(Exception):
    """The node answered with a JSON-RPC error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class WaitTimeout(Exception):
    """A transaction was not included in time."""


class VcoinClient:
    def __init__(self, url: str = DEFAULT_RPC_URL, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout
        self._ids = count(1)
        self._chain_info: dict[str, Any] | None = None

    def call(self, method: str, *params: Any) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)})
        request = urllib.request.Request(
            self.url,
            data=body.encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                answer = json.loads(exc.read())
            except ValueError:
                raise RpcFailure(exc.code, f"HTTP {exc.code} from the node") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise NodeUnreachable(f"no node reachable at {self.url} ({reason})") from None
        except ValueError:
            raise RpcFailure(-32700, "the node's answer is not JSON") from None
        if "error" in answer:
            error = answer["error"]
            raise RpcFailure(int(error.get("code", 0)), str(error.get("message", "unknown error")))
        return answer.get("result")

    # -- reads ---------------------------------------------------------------
    def chain_info(self) -> dict[str, Any]:
        if self._chain_info is None:
            self._chain_info = self.call("vcoin_chainInfo")
        return self._chain_info

    def chain_id(self) -> bytes:
        return bytes.fromhex(self.chain_info()["chainId"][2:])

    def account(self, who: bytes | str) -> dict[str, int]:
        result: dict[str, int] = self.call("vcoin_account", _addr(who))
        return result

    def next_nonce(self, who: bytes | str) -> int:
        return int(self.call("system_accountNextIndex", _addr(who)))

    def extrinsic(self, tx_hash: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("vcoin_extrinsic", tx_hash)
        return result

    # -- writes --------------------------------------------------------------
    def sign(
        self,
        key: Keypair,
        pallet: str,
        name: str,
        args: dict[str, Any],
        tip: int = 0,
        nonce: int | None = None,
    ) -> bytes:
        if nonce is None:
            nonce = self.next_nonce(key.public)
        return Extrinsic.sign(key, self.chain_id(), nonce, Call(pallet, name, args), tip).encode()

    def submit(self, raw: bytes) -> str:
        return str(self.call("author_submitExtrinsic", "0x" + raw.hex()))

    def submit_call(self, key: Keypair, pallet: str, name: str, args: dict[str, Any], tip: int = 0) -> str:
        return self.submit(self.sign(key, pallet, name, args, tip))

    def wait(
        self,
        tx_hash: str,
        timeout: float = 60.0,
        poll: float = 0.25,
        finalized: bool = False,
        on_tick: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the transaction is in a block (or finalized); returns its status."""
        wanted = ("finalized",) if finalized else ("inBlock", "finalized")
        deadline = time.monotonic() + timeout
        while True:
            status = self.extrinsic(tx_hash)
            if on_tick is not None:
                on_tick(status)
            if status["status"] in wanted:
                return status
            if status["status"] == "unknown":
                raise WaitTimeout("the node dropped the transaction (it became invalid)")
            if time.monotonic() > deadline:
                raise WaitTimeout(f"not included within {timeout:.0f} s (status: {status['status']})")
            time.sleep(poll)


def _addr(who: bytes | str) -> str:
    return to_address(who) if isinstance(who, bytes) else who
