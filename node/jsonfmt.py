"""How chain types look in JSON-RPC answers (hex for bytes, vc1 for accounts)."""

from typing import Any

from runtime.crypto import AddressError, from_address, to_address
from runtime.types import Block, Header


def hex0x(data: bytes) -> str:
    return "0x" + data.hex()


def to_json(value: Any) -> Any:
    if isinstance(value, bytes):
        return hex0x(value)
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


def header_json(header: Header) -> dict[str, Any]:
    return {
        "hash": hex0x(header.hash),
        "number": header.number,
        "parentHash": hex0x(header.parent_hash),
        "stateRoot": hex0x(header.state_root),
        "extrinsicsRoot": hex0x(header.extrinsics_root),
        "slot": header.slot,
        "author": to_address(header.author),
    }


def block_json(block: Block) -> dict[str, Any]:
    return {
        "header": header_json(block.header),
        "extrinsics": [hex0x(raw) for raw in block.extrinsics],
        "seal": hex0x(block.seal),
    }


def event_json(wire: list[Any]) -> dict[str, Any]:
    pallet, name, data, index = wire
    return {"pallet": pallet, "name": name, "data": to_json(data), "index": index}


def parse_hex(value: Any, length: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise ValueError("expected a 0x-prefixed hex string")
    try:
        data = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        raise ValueError("not valid hex") from None
    if length is not None and len(data) != length:
        raise ValueError(f"expected {length} bytes")
    return data


def parse_account(value: Any) -> bytes:
    """A vc1 address or 0x-hex of the 32-byte account id."""
    if isinstance(value, str) and value.startswith("vc1"):
        try:
            return from_address(value)
        except AddressError as exc:
            raise ValueError(str(exc)) from None
    return parse_hex(value, 32)
