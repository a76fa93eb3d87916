"""`inference`: greedy decoding with a causal LM.

The result holds the new token ids, their text, for every step the
runner-up token and the margin between the top two logits, and a top-k
logit fingerprint (`agent.fingerprint`). Compare: the
claimed tokens must equal the re-execution's, except that at a step where
the re-executor's own top-2 margin is below `NEAR_TIE` logits the claimed
token may be its runner-up instead; from that divergence on, two honest
machines legitimately continue differently (float summation order differs
between CPU and GPU kernels by ~1e-4 logits in fp32, ~1e-2 in bf16), so
nothing after it is judged.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent import fingerprint, loading
from agent.canonical import from_fixed, to_fixed
from agent.job import JobSpec, Verdict

NEAR_TIE = 0.05


class PieceStreamer:
    """A `transformers` streamer that hands on the text each new token adds
    (joined, the pieces are the result's `text`): generation streams token
    by token while the result stays what it would be without it."""

    def __init__(self, tokenizer: Any, on_piece: Callable[[str], None]) -> None:
        self.tokenizer, self.on_piece = tokenizer, on_piece
        self.tokens: list[int] = []
        self.shown = ""
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # generate() hands over the prompt first
            self.prompt_seen = True
            return
        self.tokens += [int(t) for t in value.reshape(-1).tolist()]
        text = self.tokenizer.decode(self.tokens, skip_special_tokens=True)
        if text.endswith("\ufffd") or not text.startswith(self.shown):
            return  # half a character, or a re-segmentation: wait for the next token
        piece, self.shown = text[len(self.shown) :], text
        if piece:
            self.on_piece(piece)

    def end(self) -> None:
        text = self.tokenizer.decode(self.tokens, skip_special_tokens=True)
        if text.startswith(self.shown) and len(text) > len(self.shown):
            self.on_piece(text[len(self.shown) :])
            self.shown = text


def run(
    spec: JobSpec, model_path: Path, device: str, on_piece: Callable[[str], None] | None = None
) -> dict[str, Any]:
    import torch

    tokenizer, model = loading.causal_lm(model_path, device)
    encoded = tokenizer(str(spec.input), return_tensors="pt")
    prompt = {k: encoded[k].to(device) for k in ("input_ids", "attention_mask")}
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.inference_mode():
        out = model.generate(
            **prompt, max_new_tokens=spec.options.get("max_tokens", 16), do_sample=False,
            output_logits=True, return_dict_in_generate=True, pad_token_id=pad if pad is not None else 0,
            streamer=None if on_piece is None else PieceStreamer(tokenizer, on_piece),
        )  # fmt: skip
    tokens = out.sequences[0, prompt["input_ids"].shape[1] :].tolist()
    steps = [top_of(step_logits[0]) for step_logits in out.logits[: len(tokens)]]
    margins = [values[0] - values[1] for _, values in steps]
    text = tokenizer.decode(tokens, skip_special_tokens=True)
    return {
        "tokens": tokens, "text": text, "margins": to_fixed(margins), "runner_up": [ids[1] for ids, _ in steps],
        "fingerprint": fingerprint.make(steps, int(out.logits[0].shape[-1])) if steps else [],
    }  # fmt: skip


def top_of(logits: Any) -> tuple[list[int], list[float]]:
    """A step's top-(k+1) token ids and logits in fp32, highest first."""
    import torch

    top = torch.topk(logits.float(), fingerprint.TOP_K + 1)
    return [int(i) for i in top.indices], [float(v) for v in top.values]


def compare(reference: dict[str, Any], claimed: dict[str, Any]) -> Verdict:
    ref_tokens, got = reference.get("tokens", []), claimed.get("tokens")
    margins = from_fixed(reference.get("margins", []))
    runner_up = reference.get("runner_up", [])
    if not isinstance(got, list) or not all(isinstance(t, int) for t in got):
        return Verdict(False, "tokens are not a list of ids")
    for step, (want, have) in enumerate(zip(ref_tokens, got, strict=False)):
        if want == have:
            continue
        if margins[step] < NEAR_TIE and step < len(runner_up) and have == runner_up[step]:
            return Verdict(True, f"near-tie at step {step}: the rest is not judged")
        return Verdict(False, f"token {step}: {have} where greedy decoding gives {want}")
    if len(got) != len(ref_tokens):
        return Verdict(False, f"{len(got)} tokens where greedy decoding gives {len(ref_tokens)}")
    return Verdict(True)


def check(spec: JobSpec, model_path: Path, device: str, claimed: dict[str, Any]) -> Verdict:
    """Verify a claimed result with one teacher-forced forward pass over the
    prompt and the claimed tokens (a prefill, not a decode loop): every
    claimed token must be the argmax there, or its runner-up at a near-tie;
    since every position is conditioned on the claimed tokens, the steps
    after a near-tie are judged too. A result shorter than `max_tokens` must
    end at the end-of-sequence token, and the committed fingerprint must fit
    the top-k logits of every step."""
    import torch

    tokens = claimed.get("tokens")
    limit = spec.options.get("max_tokens", 16)
    if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens) or len(tokens) > limit:
        return Verdict(False, "tokens are not a list of at most max_tokens ids")
    tokenizer, model = loading.causal_lm(model_path, device)
    prompt = tokenizer(str(spec.input), return_tensors="pt")["input_ids"]
    if any(not 0 <= t < model.config.vocab_size for t in tokens):
        return Verdict(False, "a token id is outside the vocabulary")
    ids = torch.cat([prompt, torch.tensor([tokens], dtype=prompt.dtype)], dim=1).to(device)
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0].float()
    start = prompt.shape[1] - 1
    steps = [top_of(logits[start + step]) for step in range(len(tokens))]
    for step, (token, (top_ids, top_values)) in enumerate(zip(tokens, steps, strict=True)):
        near_tie = top_values[0] - top_values[1] < NEAR_TIE and token == top_ids[1]
        if token != top_ids[0] and not near_tie:
            return Verdict(False, f"token {step}: {token} is not what greedy decoding picks")
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else model.config.eos_token_id
    if len(tokens) < limit and eos is not None and (not tokens or tokens[-1] != eos):
        return Verdict(False, f"{len(tokens)} tokens without an end of sequence, below max_tokens")
    why = fingerprint.check(claimed.get("fingerprint"), steps, int(logits.shape[-1]), NEAR_TIE)
    return Verdict(False, why) if why else Verdict(True)
