"""What a job of each kind may ask for, and what it costs in work units.

Options are small integers with defaults; inputs are canonical msgpack of
the kind's input: a prompt string (`inference`), a list of texts (`embed`,
`lora`'s training set). Work units scale with the model's size in millions
of parameters and a token estimate of four bytes a token, so the fee is
known at submission, before anyone runs anything.
"""

from typing import Any

from runtime.constants import MAX_GROUP, MAX_LORA_ROUNDS, MAX_LORA_STEPS, MAX_NEW_TOKENS
from runtime.pallets.job_types import JobKind

MAX_TEXTS = 256
MAX_REFERENCED_TEXTS = 65_536
# model kind -> the job kinds it serves: a causal LM also fine-tunes
SERVES: dict[JobKind, tuple[JobKind, ...]] = {
    JobKind.INFERENCE: (JobKind.INFERENCE, JobKind.LORA),
    JobKind.EMBED: (JobKind.EMBED,),
    JobKind.LORA: (JobKind.LORA,),
}
OPTION_BOUNDS: dict[JobKind, dict[str, tuple[int, int, int]]] = {  # name -> (low, high, default)
    JobKind.INFERENCE: {"max_tokens": (1, MAX_NEW_TOKENS, 16)},
    JobKind.EMBED: {},
    JobKind.LORA: {
        "rank": (1, 64, 8),
        "alpha": (1, 512, 16),
        "steps": (1, MAX_LORA_STEPS, 10),
        "lr_ppm": (1, 1_000_000, 1_000),  # learning rate in millionths
        "seed": (0, (1 << 32) - 1, 0),
        # spread over several providers (`job_groups`): DiLoCo rounds of
        # `sync_every` local steps each, instead of `steps`
        "providers": (1, MAX_GROUP, 1),
        "sync_every": (1, MAX_LORA_STEPS, 50),
        "rounds": (1, MAX_LORA_ROUNDS, 4),
        "outer_lr_ppm": (1, 2_000_000, 700_000),
        "momentum_ppm": (0, 999_999, 900_000),
    },
}


def check_options(kind: JobKind, options: dict[str, Any]) -> dict[str, int]:
    """The job's settings with defaults filled in; ValueError if out of bounds."""
    bounds = OPTION_BOUNDS[kind]
    unknown = sorted(set(options) - set(bounds))
    if unknown:
        raise ValueError(f"unknown option(s) for {kind}: {', '.join(map(str, unknown))}")
    settings = {}
    for name, (low, high, default) in bounds.items():
        value = options.get(name, default)
        if type(value) is not int or not low <= value <= high:
            raise ValueError(f"{name} must be an integer in [{low}, {high}]")
        settings[name] = value
    if settings.get("providers", 1) > 1 and settings["sync_every"] * settings["rounds"] > MAX_LORA_STEPS:
        raise ValueError(f"sync_every x rounds must be at most {MAX_LORA_STEPS} steps")
    return settings


def check_input(kind: JobKind, value: Any, max_texts: int = MAX_TEXTS) -> None:
    """Inline inputs are checked by the chain; referenced ones (priced by
    their real size, which the provider checks) may hold more texts."""
    if kind == JobKind.INFERENCE:
        if type(value) is not str or not value:
            raise ValueError("an inference input is a non-empty prompt")
        return
    if type(value) is not list or not 0 < len(value) <= max_texts:
        raise ValueError(f"an {kind} input is a list of 1 to {max_texts} texts")
    if not all(type(text) is str and text for text in value):
        raise ValueError("every text must be a non-empty string")


def work_units(kind: JobKind, params_millions: int, input_size: int, settings: dict[str, int]) -> int:
    tokens = -(-input_size // 4)
    if kind == JobKind.INFERENCE:
        return params_millions * (tokens + settings["max_tokens"])
    if kind == JobKind.EMBED:
        return params_millions * tokens
    return 3 * params_millions * tokens * lora_steps(settings)  # forward and backward passes


def lora_steps(settings: dict[str, int]) -> int:
    """The optimizer steps a LoRA job takes on its whole dataset (a group's
    members take them on their shards: the same work, split)."""
    if settings.get("providers", 1) > 1:
        return settings["sync_every"] * settings["rounds"]
    return settings["steps"]
