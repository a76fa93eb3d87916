"""A job as the agent sees it (kind, decoded input, settings) and its result:
the payload, its canonical bytes and their hash. Nothing here knows the chain;
the provider worker translates on-chain jobs into `JobSpec`s."""

from dataclasses import dataclass, field
from typing import Any

from agent.canonical import digest, encode


@dataclass(frozen=True)
class JobSpec:
    kind: str
    input: Any  # a prompt (inference) or a list of texts (embed, lora)
    options: dict[str, int] = field(default_factory=dict)
    rendezvous: str = ""  # host:port where a member of a job spread over providers meets the others
    resume: bytes = b""  # ... and the partial result it goes on from (`agent.diloco_progress`)
    peers: bytes = b""  # ... and the keys it shares with each other member, by rank (`offchain.group_keys`)


@dataclass(frozen=True)
class Result:
    payload: dict[str, Any]
    encoded: bytes
    hash: bytes

    @classmethod
    def of(cls, payload: dict[str, Any]) -> "Result":
        encoded = encode(payload)
        return cls(payload, encoded, digest(encoded))


@dataclass(frozen=True)
class Verdict:
    match: bool
    reason: str = ""
