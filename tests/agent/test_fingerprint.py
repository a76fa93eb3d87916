"""Top-k logit fingerprints: the polynomial carries every committed logit,
honest noise and near-ties at the k-th rank pass, other logits fail; on a
tiny model, a provider whose model gives the same greedy tokens from other
logits (a rescaled head) is caught by the fingerprint alone."""

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent import fingerprint
from agent.fingerprint import CHUNK, TOP_K
from agent.job import JobSpec
from agent.kinds import inference
from agent.tiny_models import tiny_causal_lm

VOCAB = 1_000
NEAR_TIE = 0.05


@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 65_535)), min_size=1, max_size=40,
                unique_by=lambda p: p[0] % fingerprint.PRIME))  # fmt: skip
@settings(max_examples=60, deadline=None)
def test_the_polynomial_passes_through_every_point(points: list[tuple[int, int]]) -> None:
    coeffs = fingerprint.interpolate(points)
    assert len(coeffs) == len(points)
    assert all(fingerprint.evaluate(coeffs, x) == y for x, y in points)


def decode_steps(rng: random.Random, count: int) -> list[fingerprint.Step]:
    """Top-(k+1) logits per step with clear gaps between the ranks."""
    steps: list[fingerprint.Step] = []
    for _ in range(count):
        ids = rng.sample(range(VOCAB), TOP_K + 1)
        top = rng.uniform(5, 20)
        steps.append((ids, [top - rank * rng.uniform(0.5, 2.0) for rank in range(TOP_K + 1)]))
    return steps


def shifted(steps: list[fingerprint.Step], noise: float, rng: random.Random) -> list[fingerprint.Step]:
    return [(ids, [v + rng.uniform(-noise, noise) for v in values]) for ids, values in steps]


@pytest.mark.parametrize("count", [1, CHUNK, 3 * CHUNK + 5])
def test_honest_noise_passes_and_other_logits_fail(count: int) -> None:
    rng = random.Random(count)
    steps = decode_steps(rng, count)
    committed = fingerprint.make(steps, VOCAB)
    assert sum(len(chunk) for chunk in committed) == count * TOP_K  # one number per committed logit
    assert fingerprint.check(committed, steps, VOCAB, NEAR_TIE) is None
    assert fingerprint.check(committed, shifted(steps, 1e-3, rng), VOCAB, NEAR_TIE) is None  # hardware noise
    assert (
        fingerprint.check(committed, shifted(steps, 0.5, rng), VOCAB, NEAR_TIE) is not None
    )  # another model
    made_up = [[rng.randrange(fingerprint.PRIME) for _ in chunk] for chunk in committed]
    assert fingerprint.check(made_up, steps, VOCAB, NEAR_TIE) is not None
    assert (
        fingerprint.check(committed[:-1], steps, VOCAB, NEAR_TIE)
        == "the fingerprint does not cover every step"
    )
    assert fingerprint.check("junk", steps, VOCAB, NEAR_TIE) is not None
    assert fingerprint.check([[1.5] * len(c) for c in committed], steps, VOCAB, NEAR_TIE) is not None


def test_a_kth_rank_swap_is_excused_only_at_a_near_tie() -> None:
    rng = random.Random(5)
    steps = decode_steps(rng, CHUNK)
    ids, values = steps[3]
    provider = list(steps)
    provider[3] = ([*ids[: TOP_K - 1], ids[TOP_K], ids[TOP_K - 1]], values)  # k-th and (k+1)-th swapped
    committed = fingerprint.make(provider, VOCAB)
    assert fingerprint.check(committed, steps, VOCAB, NEAR_TIE) is not None  # a clear gap: no excuse
    tied = list(steps)
    tied[3] = (ids, [*values[:TOP_K], values[TOP_K - 1] - 0.01])  # the k-th and the next within noise
    provider[3] = (provider[3][0], tied[3][1])
    assert fingerprint.check(fingerprint.make(provider, VOCAB), tied, VOCAB, NEAR_TIE) is None


@pytest.fixture(scope="module")
def lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("lm"))


def test_same_tokens_from_other_logits_fail_the_fingerprint(lm: Path, tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    rescaled = tmp_path / "rescaled"  # final norm x1.05: every logit x1.05, same greedy tokens
    model = AutoModelForCausalLM.from_pretrained(lm)
    with torch.no_grad():
        model.model.norm.weight.mul_(1.05)
    model.save_pretrained(rescaled)
    AutoTokenizer.from_pretrained(lm).save_pretrained(rescaled)
    spec = JobSpec("inference", "the quick brown fox", {"max_tokens": 12})
    honest, other = inference.run(spec, lm, "cpu"), inference.run(spec, rescaled, "cpu")
    assert other["tokens"] == honest["tokens"]
    assert inference.check(spec, lm, "cpu", honest).match
    verdict = inference.check(spec, lm, "cpu", other)
    assert not verdict.match and "committed as" in verdict.reason
    assert not inference.check(spec, lm, "cpu", {**honest, "fingerprint": []}).match
