"""A job's input as the workers read it, checked the way the chain checks
inline inputs: a referenced input (stored by hash, off chain) is only
trusted after it decodes, has the kind's shape and is exactly as large as
the size its fee was computed from. Anything else can never run, so the
provider refuses it instead of running it (or crashing on it)."""

from typing import Any

from offchain.blobs import BlobStore
from offchain.input_shape import check_shape
from runtime.codec import CodecError, decode
from runtime.pallets import jobs
from runtime.pallets.job_rules import MAX_REFERENCED_TEXTS, MAX_TEXTS, check_input


class InvalidInput(ValueError):
    """The job's input can never be run: the submitter's fault, not the provider's."""


def job_input(job: jobs.Job, blobs: BlobStore) -> Any | None:
    """The decoded input; None while a referenced input is not here yet."""
    raw = job.input or blobs.get(job.input_hash)
    if raw is None:
        return None
    return checked_input(job, raw)


def checked_input(job: jobs.Job, raw: bytes) -> Any:
    if not job.input and len(raw) != job.input_size:
        raise InvalidInput(f"the referenced input is {len(raw)} bytes, but {job.input_size} were paid for")
    max_texts = MAX_TEXTS if job.input else MAX_REFERENCED_TEXTS
    try:
        check_shape(job.kind, raw, max_texts)  # before decoding: nesting could cost gigabytes
        value = decode(raw, max_len=len(raw))
        check_input(job.kind, value, max_texts)
    except (CodecError, ValueError) as exc:
        raise InvalidInput(f"the input is not a valid {job.kind} input: {exc}") from None
    return value
