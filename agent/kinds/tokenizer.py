"""`tokenizer`: what an API in front of a causal LM needs from the model's
own tokenizer, and no chain job ever asks for: a chat rendered into a
prompt by the model's chat template. Free to ask (a few per paid request)
and never verified: the prompt it renders is what the paid inference
request then names, and that is what sampled verification judges.
`pieces` splits generated tokens into the text each adds, as streaming
(`agent.kinds.inference.PieceStreamer`) hands it out."""

from pathlib import Path
from typing import Any

from agent import loading
from agent.job import JobSpec, Verdict

MAX_MESSAGES = 256
ROLES = ("system", "user", "assistant", "tool")


def _messages(value: Any) -> list[dict[str, str]]:
    if type(value) is not list or not 0 < len(value) <= MAX_MESSAGES:
        raise ValueError(f"a chat is a list of 1 to {MAX_MESSAGES} messages")
    messages = []
    for item in value:
        if type(item) is not dict or item.get("role") not in ROLES or type(item.get("content")) is not str:
            raise ValueError(f"every message is {{role: one of {', '.join(ROLES)}, content: text}}")
        messages.append({"role": item["role"], "content": item["content"]})
    return messages


def render_chat(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The model's chat template with the assistant's turn opened; a model
    without one gets a plain `role: content` transcript."""
    if getattr(tokenizer, "chat_template", None):
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return str(prompt)
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n".join([*lines, "assistant:"])


def pieces(tokenizer: Any, tokens: list[int]) -> list[str]:
    """The text each token adds: joined, they are the whole decoded text (a
    token that completes a multi-byte character carries it; one before adds '')."""
    out, shown = [], ""
    for end in range(1, len(tokens) + 1):
        text = tokenizer.decode(tokens[:end], skip_special_tokens=True)
        if text.endswith("\ufffd"):  # half a character: wait for the rest
            out.append("")
            continue
        out.append(text[len(shown) :] if text.startswith(shown) else text)
        shown = text
    return out


def run(spec: JobSpec, model_path: Path, device: str) -> dict[str, Any]:
    tokenizer, _ = loading.causal_lm(model_path, device)
    request = spec.input if type(spec.input) is dict else {}
    op = request.get("op")
    if op == "chat":
        return {"prompt": render_chat(tokenizer, _messages(request.get("messages")))}
    if op == "pieces":
        tokens = request.get("tokens")
        if (
            type(tokens) is not list
            or not all(type(t) is int and t >= 0 for t in tokens)
            or len(tokens) > 4096
        ):
            raise ValueError("tokens are a list of at most 4,096 token ids")
        return {"pieces": pieces(tokenizer, tokens)}
    raise ValueError("the tokenizer answers op 'chat' or 'pieces'")


def compare(reference: dict[str, Any], claimed: dict[str, Any]) -> Verdict:
    return Verdict(False, "the tokenizer's answers are not jobs and are never verified")
