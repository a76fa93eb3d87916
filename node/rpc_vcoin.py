"""The `vcoin_` RPC namespace's ledger part: the chain's identity, accounts,
supply, staking, governance proposals and where a transaction landed. (The
compute market's `vcoin_` methods are `node.rpc_market`'s.)"""

from typing import Any

from node.abc import LedgerHost
from node.chain import Chain
from node.jsonfmt import event_json, hex0x, parse_account, parse_hex, to_json
from node.rpc import RpcError, params_between
from node.rpc_namespace import Namespace, rpc, state_at
from node.rpc_paging import cursor_id, page_size
from runtime.constants import CAP
from runtime.crypto import to_address
from runtime.pallets import balances, emission, governance, registry, staking

UNKNOWN_PROPOSAL = 4004


class VcoinRpc(Namespace):
    prefix = "vcoin"

    def __init__(self, node: LedgerHost) -> None:
        self.node = node

    @rpc("vcoin_chainInfo")
    def chain_info(self, params: list[Any]) -> Any:
        chain = self.node.chain
        return {
            "name": chain.spec.name,
            "id": chain.spec.id,
            "chainId": hex0x(chain.spec.chain_id),
            "genesisHash": hex0x(chain.genesis.hash),
            "tokenSymbol": "VC",
            "tokenDecimals": 9,
            "params": chain.spec.params.to_wire(),
        }

    @rpc("vcoin_account")
    def account(self, params: list[Any]) -> Any:
        who, at = params_between(params, 1, 2)
        acc = balances.get(state_at(self.node.chain, at), parse_account(who))
        return {
            "free": acc.free,
            "reserved": acc.reserved,
            "locked": acc.locked,
            "nonce": acc.nonce,
        }

    @rpc("vcoin_supply")
    def supply(self, params: list[Any]) -> Any:
        (at,) = params_between(params, 0, 1)
        state = state_at(self.node.chain, at)
        minted, burned = balances.Minted.get(state), balances.Burned.get(state)
        return {
            "cap": CAP,
            "minted": minted,
            "burned": burned,
            "issuance": minted - burned,
            "rewardPool": emission.Pool.get(state),
        }

    @rpc("vcoin_staking")
    def staking_ledger(self, params: list[Any]) -> Any:
        who, at = params_between(params, 1, 2)
        state, account = state_at(self.node.chain, at), parse_account(who)
        led = staking.ledger(state, account)
        return {
            "bonded": led.bonded,
            "unbonding": led.unbonding_total,
            "unbondingChunks": [{"amount": a, "unlocksAt": b} for a, b in led.unbonding],
            "role": registry.role(state, account),  # validator, provider (registered) or none
            "active": account in staking.Active.get(state),
            "era": staking.CurrentEra.get(state),
        }

    @rpc("vcoin_validators")
    def validators(self, params: list[Any]) -> Any:
        return [to_address(v) for v in staking.Active.get(self.node.chain.state)]

    def _proposal(self, pid: int) -> Any:
        prop = governance.proposal(self.node.chain.state, pid)
        if prop is None:
            return None
        return {
            "id": prop.id,
            "proposer": to_address(prop.proposer),
            "action": prop.action,
            "args": to_json(prop.args),
            "deposit": prop.deposit,
            "end": prop.end,
            "ayes": prop.ayes,
            "nays": prop.nays,
            "status": prop.status,
            "enactAt": prop.enact_at,
        }

    @rpc("vcoin_proposal")
    def proposal(self, params: list[Any]) -> Any:
        (pid,) = params_between(params, 1, 1)
        if type(pid) is not int or pid < 0:
            raise ValueError("proposal id must be a non-negative integer")
        found = self._proposal(pid)
        if found is None:
            raise RpcError(UNKNOWN_PROPOSAL, f"Unknown proposal {pid}")
        return found

    @rpc("vcoin_proposals")
    def proposals(self, params: list[Any]) -> Any:
        """`[count?, start?]`: oldest first after `start`, the previous page's last id."""
        count, start = params_between(params, 0, 2)
        after = cursor_id(start)
        first = 0 if after is None else after + 1
        last = min(governance.NextId.get(self.node.chain.state), first + page_size(count))
        return [found for pid in range(first, last) if (found := self._proposal(pid)) is not None]

    @rpc("vcoin_extrinsic")
    def extrinsic(self, params: list[Any]) -> Any:
        (tx_hash_hex,) = params_between(params, 1, 1)
        tx_hash = parse_hex(tx_hash_hex, 32)
        return extrinsic_status(self.node.chain, tx_hash in self.node.pool, tx_hash)


def extrinsic_status(chain: Chain, pending: bool, tx_hash: bytes) -> dict[str, Any]:
    """Where a transaction is: pending, unknown, or in a block with its events."""
    location = chain.store.tx_location(tx_hash)
    if location is None:
        return {"status": "pending" if pending else "unknown"}
    block_hash, index = location
    header = chain.store.header(block_hash)
    assert header is not None
    if header.number > chain.best.number:
        # Stored, but the chain's best state has not moved there yet: a
        # caller told "in a block" would read a state without it.
        return {"status": "pending"}
    finalized = chain.store.header(chain.finalized_hash)
    is_final = finalized is not None and finalized.number >= header.number
    if not chain.pruner.events_kept(header.number):  # gone with the block's state
        return {
            "status": "finalized" if is_final else "inBlock",
            "blockHash": hex0x(block_hash),
            "blockNumber": header.number,
            "index": index,
            "success": None,
            "error": None,
            "detail": "its events are pruned with the block's state (--state-pruning archive keeps them)",
            "events": None,
        }
    events = [event_json(e) for e in chain.store.events(block_hash) if e[3] == index]
    failure = next((e for e in events if e["name"] == "ExtrinsicFailed"), None)
    return {
        "status": "finalized" if is_final else "inBlock",
        "blockHash": hex0x(block_hash),
        "blockNumber": header.number,
        "index": index,
        "success": failure is None,
        "error": None if failure is None else failure["data"].get("error"),
        "detail": None if failure is None else failure["data"].get("detail"),
        "events": events,
    }
