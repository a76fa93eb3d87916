"""Referenced inputs are the attack: whatever bytes a submitter stores, the
workers either get an input of the kind's shape that the sandbox can take,
or `InvalidInput`; never another exception (which used to stop the node)."""

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from agent.canonical import encode as sandbox_encode
from agent.executor import request_of
from agent.job import JobSpec
from offchain.job_input import InvalidInput, checked_input
from runtime.codec import blake2b_256
from runtime.pallets import jobs
from runtime.pallets.job_rules import MAX_REFERENCED_TEXTS
from runtime.pallets.job_types import JobKind
from tools.bench.mutations import packed

scalars = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=8) | st.binary(max_size=8)
)
values = st.recursive(
    scalars | st.floats(allow_nan=True),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(scalars, inner, max_size=4),
    max_leaves=12,
)


def referenced(kind: str, raw: bytes, size: int) -> jobs.Job:
    return jobs.Job(0, b"s" * 32, JobKind(kind), b"m" * 32, b"", blake2b_256(raw), size, {}, 1, 1, 10, 0, 0)


def accepted_or_refused(job: jobs.Job, raw: bytes) -> None:
    try:
        value = checked_input(job, raw)
    except InvalidInput:
        return
    sandbox_encode(request_of(JobSpec(job.kind, value, {}), Path("/model"), "cpu"))  # what the executor sends


@given(st.sampled_from(JobKind), values, st.integers(-3, 3))
def test_any_decoded_value_is_either_runnable_or_refused(
    kind: JobKind, value: object, size_error: int
) -> None:
    raw = packed(value)
    accepted_or_refused(referenced(kind, raw, max(1, len(raw) + size_error)), raw)


@given(st.sampled_from(JobKind), st.binary(max_size=64))
def test_any_bytes_are_either_runnable_or_refused(kind: JobKind, raw: bytes) -> None:
    accepted_or_refused(referenced(kind, raw, max(1, len(raw))), raw)


def test_the_declared_size_must_be_the_real_size() -> None:
    raw = packed(["some", "texts"])
    checked_input(referenced("embed", raw, len(raw)), raw)
    for wrong in (1, len(raw) - 1, len(raw) + 1):
        try:
            checked_input(referenced("embed", raw, wrong), raw)
        except InvalidInput as exc:
            assert "paid for" in str(exc)
        else:
            raise AssertionError(f"size {wrong} of {len(raw)} accepted")


def test_more_texts_than_a_job_may_have_are_refused() -> None:
    checked_input(
        referenced("embed", packed(["text"] * 2_000), len(packed(["text"] * 2_000))), packed(["text"] * 2_000)
    )
    raw = packed(["text"] * (MAX_REFERENCED_TEXTS + 1))
    try:
        checked_input(referenced("embed", raw, len(raw)), raw)
    except InvalidInput as exc:
        assert "list of 1 to" in str(exc)
    else:
        raise AssertionError(f"{MAX_REFERENCED_TEXTS + 1} texts accepted")


def test_nesting_is_refused_before_it_is_decoded() -> None:
    import tracemalloc

    raw = packed([[]] * 1_000_000)  # a megabyte that decodes into a million lists
    tracemalloc.start()
    try:
        checked_input(referenced("embed", raw, len(raw)), raw)
    except InvalidInput:
        pass
    else:
        raise AssertionError("a list of lists accepted")
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 4 * len(raw)  # the bytes themselves, not a Python object per item


@given(st.lists(st.text(max_size=5), min_size=1, max_size=5) | st.text(min_size=1, max_size=9))
def test_the_shape_walker_accepts_exactly_what_the_chain_accepts(value: object) -> None:
    from offchain.input_shape import check_shape
    from runtime.pallets.job_rules import check_input

    for kind in (JobKind.INFERENCE, JobKind.EMBED):
        raw = packed(value)
        try:
            check_input(kind, value)
            chain_ok = True
        except ValueError:
            chain_ok = False
        try:
            check_shape(kind, raw, 256)
            walker_ok = True
        except ValueError:
            walker_ok = False
        assert walker_ok or not chain_ok  # never refuses what the chain takes
