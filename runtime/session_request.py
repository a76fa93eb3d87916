"""A session's request, as the user's node sends it and the provider logs
it: the canonical msgpack of `[kind, input, options]`, where `input` is the
canonical msgpack of the kind's input (a prompt, or a list of texts) as a
job's would be, so the request costs exactly what the same job would:
`job_rules.work_units` of the model, the input's size and the settings.
The cheque names a request by `blake2b-256` of these bytes.

Sessions serve the request/response kinds only; LoRA stays a one-shot job.
"""

from dataclasses import dataclass
from typing import Any

from runtime.codec import CodecError, blake2b_256, decode, encode
from runtime.constants import MAX_PUBLISHED_REQUEST
from runtime.pallets.job_rules import check_input, check_options, work_units
from runtime.pallets.job_types import JobKind

# A sampled request and its result are published in one extrinsic, so a
# request's size and what it asks for are bounded by what a block can carry
# (the result, at most `MAX_PUBLISHED_RESULT`, is checked by the provider):
MAX_REQUEST = MAX_PUBLISHED_REQUEST  # bytes
MAX_TEXTS = 16  # texts per embedding request: 16 vectors of 384 dimensions are about 22 KB
MAX_TOKENS = 512  # new tokens per inference request: about 50 bytes each with the fingerprint
SESSION_KINDS = (JobKind.INFERENCE, JobKind.EMBED)


@dataclass(frozen=True)
class SessionRequest:
    kind: JobKind
    input: Any
    settings: dict[str, int]
    input_size: int  # bytes of the input's canonical encoding: what the units are priced by

    def units(self, params_millions: int) -> int:
        return work_units(self.kind, params_millions, self.input_size, self.settings)


def encode_request(kind: str, value: Any, options: dict[str, int]) -> bytes:
    return encode([str(kind), encode(value), dict(options)])


def request_hash(raw: bytes) -> bytes:
    return blake2b_256(raw)


def parse_request(raw: bytes, model_kind: JobKind) -> SessionRequest:
    """The request, checked as a job of the same kind would be; ValueError if
    it is malformed, too large, or not what a model of `model_kind` serves."""
    if len(raw) > MAX_REQUEST:
        raise ValueError(f"a request is at most {MAX_REQUEST} bytes")
    try:
        outer = decode(raw, max_len=MAX_REQUEST)
    except CodecError as exc:
        raise ValueError(f"not a canonical request: {exc}") from None
    if type(outer) is not list or len(outer) != 3:
        raise ValueError("a request is [kind, input, options]")
    kind_name, value_raw, options = outer
    if kind_name not in {k.value for k in SESSION_KINDS}:
        raise ValueError(f"sessions serve {', '.join(SESSION_KINDS)} requests")
    kind = JobKind(kind_name)
    if kind != model_kind:
        raise ValueError(f"the session's model serves {model_kind}, not {kind}")
    if type(value_raw) is not bytes or type(options) is not dict:
        raise ValueError("a request's input is its canonical bytes and its options a map")
    try:
        value = decode(value_raw, max_len=MAX_REQUEST)
    except CodecError as exc:
        raise ValueError(f"not a canonical input: {exc}") from None
    check_input(kind, value, MAX_TEXTS)
    settings = check_options(kind, options)
    if settings.get("max_tokens", 0) > MAX_TOKENS:
        raise ValueError(f"a session's inference request asks for at most {MAX_TOKENS} tokens")
    return SessionRequest(kind, value, settings, len(value_raw))
