"""The RPC methods of the contract, over one running node."""

from typing import TYPE_CHECKING, Any

from node.jsonfmt import (
    block_json,
    event_json,
    header_json,
    hex0x,
    parse_account,
    parse_hex,
    to_json,
)
from node.rpc import (
    TX_ALREADY_IMPORTED,
    TX_INVALID,
    TX_PRIORITY_TOO_LOW,
    Method,
    RpcError,
    params_between,
)
from node.rpc_paging import cursor_id, page_size, take
from node.txpool import PoolError, Rejection
from runtime.constants import CAP, MAX_EXTRINSIC_BYTES
from runtime.crypto import to_address
from runtime.pallets import balances, emission, governance, staking
from runtime.state import State
from runtime.types import Header

if TYPE_CHECKING:
    from node.service import Node

VERSION = "0.1.0"

# Substrate's author_submitExtrinsic codes, by the pool's reason.
POOL_CODES = {
    Rejection.ALREADY_IN_POOL: TX_ALREADY_IMPORTED,
    Rejection.UNDERPRICED: TX_PRIORITY_TOO_LOW,
    Rejection.POOL_FULL: TX_PRIORITY_TOO_LOW,
}


def build_methods(node: "Node") -> dict[str, Method]:
    chain = node.chain

    def header_at(value: Any) -> Header:
        if value is None:
            return chain.best
        header = chain.store.header(parse_hex(value, 32))
        if header is None:
            raise RpcError(4003, "Unknown block")
        return header

    def state_at(value: Any) -> State:
        if value is None:
            return chain.state
        state = chain.state_at(parse_hex(value, 32))
        if state is None:
            raise RpcError(4003, "Unknown block")
        return state

    def system_health(params: list[Any]) -> Any:
        params_between(params, 0, 0)
        finalized = chain.store.header(chain.finalized_hash)
        return {
            "peers": node.peer_count(),
            "isSyncing": node.is_syncing(),
            "shouldHavePeers": not node.config.dev,
            "bestNumber": chain.best.number,
            "finalizedNumber": finalized.number if finalized else 0,
        }

    def system_name(params: list[Any]) -> Any:
        return "vcoin-node"

    def system_version(params: list[Any]) -> Any:
        return VERSION

    def system_chain(params: list[Any]) -> Any:
        return chain.spec.name

    def system_properties(params: list[Any]) -> Any:
        return {"tokenSymbol": "VC", "tokenDecimals": 9, "addressPrefix": "vc1"}

    def system_local_peer_id(params: list[Any]) -> Any:
        return node.local_peer_id()

    def system_local_listen_addresses(params: list[Any]) -> Any:
        return node.listen_addresses()

    def system_account_next_index(params: list[Any]) -> Any:
        (who,) = params_between(params, 1, 1)
        return node.pool.next_nonce(chain.state, parse_account(who))

    def chain_get_block_hash(params: list[Any]) -> Any:
        (number,) = params_between(params, 0, 1)
        if number is None:
            return hex0x(chain.best.hash)
        if type(number) is not int or number < 0:
            raise ValueError("block number must be a non-negative integer")
        found = chain.store.hash_at(number)
        return None if found is None else hex0x(found)

    def chain_get_header(params: list[Any]) -> Any:
        (at,) = params_between(params, 0, 1)
        return header_json(header_at(at))

    def chain_get_block(params: list[Any]) -> Any:
        (at,) = params_between(params, 0, 1)
        block = chain.store.block(header_at(at).hash)
        assert block is not None
        return block_json(block)

    def chain_get_finalized_head(params: list[Any]) -> Any:
        params_between(params, 0, 0)
        return hex0x(chain.finalized_hash)

    def chain_get_events(params: list[Any]) -> Any:
        (at,) = params_between(params, 0, 1)
        return [event_json(e) for e in chain.store.events(header_at(at).hash)]

    def author_submit_extrinsic(params: list[Any]) -> Any:
        (raw_hex,) = params_between(params, 1, 1)
        if not isinstance(raw_hex, str) or len(raw_hex) > 2 * MAX_EXTRINSIC_BYTES + 2:
            raise RpcError(TX_INVALID, "Invalid transaction: ExtrinsicTooLarge")
        raw = parse_hex(raw_hex)
        try:
            return hex0x(node.submit_extrinsic(raw))
        except PoolError as err:
            code = POOL_CODES.get(err.kind, TX_INVALID)
            raise RpcError(code, f"Invalid transaction: {err.reason}") from None

    def author_pending_extrinsics(params: list[Any]) -> Any:
        """`[count?, start?]`: the pool in (sender, nonce) order from offset
        `start`; the pool holds megabytes, so a page is bounded in bytes too."""
        count, start = params_between(params, 0, 2)
        size, offset = page_size(count), cursor_id(start) or 0
        page = take(node.pool.pending()[offset:], size, lambda tx: len(tx.raw))
        return [hex0x(tx.raw) for tx in page]

    def state_get_storage(params: list[Any]) -> Any:
        key, at = params_between(params, 1, 2)
        value = state_at(at).get(parse_hex(key))
        return None if value is None else hex0x(value)

    def vcoin_chain_info(params: list[Any]) -> Any:
        return {
            "name": chain.spec.name,
            "id": chain.spec.id,
            "chainId": hex0x(chain.spec.chain_id),
            "genesisHash": hex0x(chain.genesis.hash),
            "tokenSymbol": "VC",
            "tokenDecimals": 9,
            "params": chain.spec.params.to_wire(),
        }

    def vcoin_account(params: list[Any]) -> Any:
        who, at = params_between(params, 1, 2)
        acc = balances.get(state_at(at), parse_account(who))
        return {
            "free": acc.free,
            "reserved": acc.reserved,
            "locked": acc.locked,
            "nonce": acc.nonce,
        }

    def vcoin_supply(params: list[Any]) -> Any:
        (at,) = params_between(params, 0, 1)
        state = state_at(at)
        minted, burned = balances.Minted.get(state), balances.Burned.get(state)
        return {
            "cap": CAP,
            "minted": minted,
            "burned": burned,
            "issuance": minted - burned,
            "rewardPool": emission.Pool.get(state),
        }

    def vcoin_staking(params: list[Any]) -> Any:
        who, at = params_between(params, 1, 2)
        state, account = state_at(at), parse_account(who)
        led = staking.ledger(state, account)
        return {
            "bonded": led.bonded,
            "unbonding": led.unbonding_total,
            "unbondingChunks": [{"amount": a, "unlocksAt": b} for a, b in led.unbonding],
            "role": led.role or "none",
            "active": account in staking.Active.get(state),
            "era": staking.CurrentEra.get(state),
        }

    def vcoin_validators(params: list[Any]) -> Any:
        return [to_address(v) for v in staking.Active.get(chain.state)]

    def _proposal(pid: int) -> Any:
        prop = governance.proposal(chain.state, pid)
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

    def vcoin_proposal(params: list[Any]) -> Any:
        (pid,) = params_between(params, 1, 1)
        if type(pid) is not int or pid < 0:
            raise ValueError("proposal id must be a non-negative integer")
        found = _proposal(pid)
        if found is None:
            raise RpcError(4004, f"Unknown proposal {pid}")
        return found

    def vcoin_proposals(params: list[Any]) -> Any:
        """`[count?, start?]`: oldest first after `start`, the previous page's last id."""
        count, start = params_between(params, 0, 2)
        after = cursor_id(start)
        first = 0 if after is None else after + 1
        last = min(governance.NextId.get(chain.state), first + page_size(count))
        return [found for pid in range(first, last) if (found := _proposal(pid)) is not None]

    def vcoin_extrinsic(params: list[Any]) -> Any:
        (tx_hash_hex,) = params_between(params, 1, 1)
        tx_hash = parse_hex(tx_hash_hex, 32)
        location = chain.store.tx_location(tx_hash)
        if location is None:
            return {"status": "pending" if tx_hash in node.pool else "unknown"}
        block_hash, index = location
        header = chain.store.header(block_hash)
        assert header is not None
        events = [event_json(e) for e in chain.store.events(block_hash) if e[3] == index]
        failure = next((e for e in events if e["name"] == "ExtrinsicFailed"), None)
        finalized = chain.store.header(chain.finalized_hash)
        is_final = finalized is not None and finalized.number >= header.number
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

    return {
        "system_health": system_health,
        "system_name": system_name,
        "system_version": system_version,
        "system_chain": system_chain,
        "system_properties": system_properties,
        "system_localPeerId": system_local_peer_id,
        "system_localListenAddresses": system_local_listen_addresses,
        "system_accountNextIndex": system_account_next_index,
        "chain_getBlockHash": chain_get_block_hash,
        "chain_getHeader": chain_get_header,
        "chain_getBlock": chain_get_block,
        "chain_getFinalizedHead": chain_get_finalized_head,
        "chain_getEvents": chain_get_events,
        "author_submitExtrinsic": author_submit_extrinsic,
        "author_pendingExtrinsics": author_pending_extrinsics,
        "state_getStorage": state_get_storage,
        "vcoin_chainInfo": vcoin_chain_info,
        "vcoin_account": vcoin_account,
        "vcoin_supply": vcoin_supply,
        "vcoin_staking": vcoin_staking,
        "vcoin_validators": vcoin_validators,
        "vcoin_proposal": vcoin_proposal,
        "vcoin_proposals": vcoin_proposals,
        "vcoin_extrinsic": vcoin_extrinsic,
    }
