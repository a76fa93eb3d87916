"""Job kinds: each module has `run(spec, model_path, device) -> payload` and
`compare(reference, claimed) -> Verdict`, the rule a verifier applies."""

from types import ModuleType

from agent.kinds import embed, inference, lora, tokenizer

KINDS: dict[str, ModuleType] = {"inference": inference, "embed": embed, "lora": lora, "tokenizer": tokenizer}
