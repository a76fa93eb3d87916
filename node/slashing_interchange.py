"""The slashing protection interchange file, after EIP-3076 (version 5):

    {"metadata": {"interchange_format_version": "5", "genesis": "0x<chain id>"},
     "data": [{"pubkey": "0x<32 bytes>" or "vc1...",
               "signed_votes": [{"source_number": "3", "target_number": "7",
                                 "target_hash": "0x..."}]}]}

`genesis` is the chain id (the hash of the chain spec that every vote signs,
so it names exactly the chain the votes are about). Heights are written as
decimal strings as in EIP-3076; plain integers are accepted too. An export
holds one vote per key, the minimal form: the highest source and target.
An import merges by taking the maximum, so it never loosens the protection.
"""

from dataclasses import dataclass
from typing import Any

from node.slashing_protection import SignedRange, SlashingProtection, parse_hash
from runtime.crypto import AddressError, from_address

INTERCHANGE_VERSION = "5"


class InterchangeError(ValueError):
    """A file that is not an interchange file, or not for this chain."""


@dataclass(frozen=True)
class Imported:
    pubkey: bytes
    before: SignedRange | None
    after: SignedRange


def export_interchange(store: SlashingProtection) -> dict[str, Any]:
    data = []
    for pubkey in store.pubkeys():
        signed = store.get(pubkey)
        if signed is None:
            continue
        vote = {"source_number": str(signed.source), "target_number": str(signed.target)}
        if signed.target_hash is not None:
            vote["target_hash"] = "0x" + signed.target_hash.hex()
        data.append({"pubkey": "0x" + pubkey.hex(), "signed_votes": [vote]})
    metadata = {"interchange_format_version": INTERCHANGE_VERSION, "genesis": "0x" + store.chain_id.hex()}
    return {"metadata": metadata, "data": data}


def import_interchange(store: SlashingProtection, document: Any) -> list[Imported]:
    """Merge a parsed interchange document into `store`; all or nothing
    checked first, so a bad entry late in the file changes nothing."""
    histories = parse_interchange(document, store.chain_id)
    results = []
    for pubkey, signed in histories.items():
        before = store.get(pubkey)
        results.append(Imported(pubkey, before, store.merge(pubkey, signed)))
    return results


def parse_interchange(document: Any, chain_id: bytes) -> dict[bytes, SignedRange]:
    if not isinstance(document, dict) or not isinstance(document.get("metadata"), dict):
        raise InterchangeError("not a slashing protection interchange file (no metadata)")
    metadata = document["metadata"]
    version = str(metadata.get("interchange_format_version"))
    if version != INTERCHANGE_VERSION:
        raise InterchangeError(f"interchange format version {version!r} is not supported (only 5)")
    genesis = metadata.get("genesis")
    if str(genesis).lower() != "0x" + chain_id.hex():
        raise InterchangeError(
            f"the file is for chain {genesis}, not this chain 0x{chain_id.hex()}: "
            "check --chain and --base-path"
        )
    entries = document.get("data")
    if not isinstance(entries, list):
        raise InterchangeError("'data' must be a list")
    histories: dict[bytes, SignedRange] = {}
    for index, entry in enumerate(entries):
        try:
            pubkey, signed = _parse_entry(entry)
        except (ValueError, AddressError) as exc:
            raise InterchangeError(f"data[{index}]: {exc}") from None
        if signed is None:
            continue
        known = histories.get(pubkey)
        histories[pubkey] = signed if known is None else known.merge(signed)
    return histories


def _parse_entry(entry: Any) -> tuple[bytes, SignedRange | None]:
    if not isinstance(entry, dict) or not isinstance(entry.get("signed_votes", []), list):
        raise ValueError("an entry is {pubkey, signed_votes: [...]}")
    pubkey = _parse_pubkey(entry.get("pubkey"))
    merged: SignedRange | None = None
    for vote in entry.get("signed_votes", []):
        signed = _parse_vote(vote)
        merged = signed if merged is None else merged.merge(signed)
    return pubkey, merged


def _parse_pubkey(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("pubkey must be 0x-hex or a vc1 address")
    if text.startswith("0x"):
        return parse_hash(text)
    return from_address(text)


def _parse_vote(vote: Any) -> SignedRange:
    if not isinstance(vote, dict):
        raise ValueError("a signed vote is {source_number, target_number, target_hash?}")
    source, target = _height(vote.get("source_number")), _height(vote.get("target_number"))
    if target <= source:
        raise ValueError(f"target {target} is not above source {source}")
    target_hash = vote.get("target_hash")
    return SignedRange(source, target, None if target_hash is None else parse_hash(target_hash))


def _height(value: Any) -> int:
    if type(value) is int:
        number = value
    elif isinstance(value, str) and value.isdigit() and value.isascii():
        number = int(value)
    else:
        raise ValueError(f"height {value!r} is not a decimal number")
    if not 0 <= number < 2**63:
        raise ValueError(f"height {number} is out of range")
    return number
