"""Each job kind on a tiny model: deterministic results (same hash twice),
a comparison rule that accepts its own output and honest noise, and rejects
a different model or made-up output."""

from pathlib import Path

import pytest

from agent.canonical import decode, encode, from_fixed, to_fixed
from agent.job import JobSpec, Result
from agent.kinds import embed, inference, lora
from agent.tiny_models import tiny_causal_lm, tiny_encoder

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("lm"))


@pytest.fixture(scope="module")
def other_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("lm2"), seed=8)


@pytest.fixture(scope="module")
def enc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_encoder(tmp_path_factory.mktemp("enc"))


def test_inference_is_deterministic_and_greedy_rule_holds(lm: Path, other_lm: Path) -> None:
    spec = JobSpec("inference", "the quick brown fox", {"max_tokens": 8})
    first, second = Result.of(inference.run(spec, lm, "cpu")), Result.of(inference.run(spec, lm, "cpu"))
    assert first.hash == second.hash and len(first.payload["tokens"]) == 8
    assert inference.compare(first.payload, second.payload).match
    swapped = inference.run(spec, other_lm, "cpu")
    assert not inference.compare(first.payload, swapped).match
    lazy = {**first.payload, "tokens": [(t + 1) % 30522 for t in first.payload["tokens"]]}
    assert not inference.compare(first.payload, lazy).match


def test_inference_divergence_after_a_near_tie_is_not_judged() -> None:
    reference = {
        "tokens": [5, 6, 7, 8],
        "margins": to_fixed([2.0, 1.5, 0.01, 3.0]),
        "runner_up": [1, 2, 9, 4],
    }
    honest_noise = {"tokens": [5, 6, 9, 3]}  # picked the other near-tied token at step 2
    assert inference.compare(reference, honest_noise).match
    cheat = {"tokens": [5, 7, 7, 8]}  # diverges where the margin was clear
    assert not inference.compare(reference, cheat).match
    assert not inference.compare(reference, {"tokens": [5, 6, 11, 8]}).match  # not even the runner-up
    assert not inference.compare(reference, {"tokens": [5, 6]}).match


def test_embed_vectors_are_normalised_deterministic_and_tolerant(enc: Path) -> None:
    spec = JobSpec("embed", ["hello world", "a second text"])
    result = Result.of(embed.run(spec, enc, "cpu"))
    assert Result.of(embed.run(spec, enc, "cpu")).hash == result.hash
    vectors = from_fixed(result.payload["vectors"])
    assert len(vectors) == 2 and len(vectors[0]) == 32
    assert abs(sum(x * x for x in vectors[0]) - 1.0) < 1e-4
    noisy = {"vectors": to_fixed([[x + 1e-6 for x in v] for v in vectors])}
    assert embed.compare(result.payload, noisy).match
    fake = {"vectors": to_fixed([list(reversed(v)) for v in vectors])}
    assert not embed.compare(result.payload, fake).match
    assert not embed.compare(result.payload, {"vectors": result.payload["vectors"][:1]}).match


def test_lora_trains_reproducibly_and_compares_loss_and_weights(lm: Path) -> None:
    spec = JobSpec("lora", ["alpha beta gamma", "delta epsilon"], {"rank": 4, "alpha": 8, "steps": 3,
                                                                   "lr_ppm": 10_000, "seed": 1})  # fmt: skip
    first = Result.of(lora.run(spec, lm, "cpu"))
    again = Result.of(lora.run(spec, lm, "cpu"))
    assert first.hash == again.hash
    losses = from_fixed(first.payload["loss"])
    assert len(losses) == 3 and losses[-1] < losses[0]  # it learns
    assert lora.compare(first.payload, again.payload).match
    other_seed = lora.run(JobSpec("lora", spec.input, {**spec.options, "seed": 2}), lm, "cpu")
    assert not lora.compare(first.payload, other_seed).match
    assert not lora.compare(first.payload, {**first.payload, "adapter": b"junk"}).match


def test_results_are_canonical() -> None:
    assert encode({"b": 1, "a": [1, 2]}) == encode({"a": [1, 2], "b": 1})
    assert decode(encode({"x": b"\x00"})) == {"x": b"\x00"}
    with pytest.raises(TypeError):
        encode({"x": 1.5})


def test_teacher_forced_check_agrees_with_full_re_execution(lm: Path, other_lm: Path) -> None:
    spec = JobSpec("inference", "the quick brown fox", {"max_tokens": 8})
    honest = inference.run(spec, lm, "cpu")
    assert inference.check(spec, lm, "cpu", honest).match
    swapped = inference.run(spec, other_lm, "cpu")  # a different model's greedy output
    assert not inference.check(spec, lm, "cpu", swapped).match
    assert not inference.check(spec, lm, "cpu", {"tokens": honest["tokens"][:5]}).match  # truncated
    assert not inference.check(spec, lm, "cpu", {"tokens": honest["tokens"] * 2}).match  # too long
    lazy = {"tokens": [(t + 1) % 30522 for t in honest["tokens"]]}
    assert not inference.check(spec, lm, "cpu", lazy).match


def test_a_bf16_checkpoint_computes_in_fp32_like_every_other_machine(lm: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agent import loading

    AutoModelForCausalLM.from_pretrained(lm, dtype=torch.bfloat16).save_pretrained(tmp_path / "bf16")
    AutoTokenizer.from_pretrained(lm).save_pretrained(tmp_path / "bf16")
    _, model = loading.causal_lm(tmp_path / "bf16", "cpu")
    assert {p.dtype for p in model.parameters()} == {torch.float32}
