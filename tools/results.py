"""Job results as people read them: canonical bytes decoded, fixed-point
numbers back to floats, large binary parts summarised (saved with --out)."""

from typing import Any

from agent.canonical import decode, digest, from_fixed


def render(kind: str, encoded: bytes) -> dict[str, Any]:
    payload = decode(encoded)
    if kind == "embed":
        return {"vectors": from_fixed(payload["vectors"])}
    if kind == "inference":
        return {
            "text": payload["text"],
            "tokens": payload["tokens"],
            "margins": from_fixed(payload["margins"]),
        }
    if kind == "lora":
        adapter = payload["adapter"]
        return {"loss": from_fixed(payload["loss"]), "adapterBytes": len(adapter),
                "adapterHash": "0x" + digest(adapter).hex()}  # fmt: skip
    return {"raw": "0x" + encoded.hex()}


def artifact(kind: str, encoded: bytes) -> bytes:
    """What `--out` writes: the adapter for LoRA, else the canonical result."""
    payload = decode(encoded)
    if kind == "lora":
        return bytes(payload["adapter"])
    return encoded
