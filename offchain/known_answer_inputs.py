"""Inputs for known-answer jobs that look like the market's own.

A known-answer job copies an ordinary job's kind, model, settings, fee and
deadline, and gets a fresh input of the same shape: as many texts, each about
as many words as the text it stands in for, spliced from the openings and
endings of texts other users sent recently (and a small built-in corpus, so
a quiet market still yields new inputs). A provider sees ordinary-looking
text it has not seen before; it cannot answer from a cache of past jobs, nor
pick the tests out by their shape.
"""

import random
from collections import deque
from typing import Any

RECENT_TEXTS = 512  # texts kept from recent ordinary jobs
CORPUS = (
    "The committee will meet again next week to review the budget proposal.",
    "Summarise the main arguments of the article in three sentences.",
    "Rainfall in the northern valleys was twice the seasonal average this year.",
    "Write a short product description for a stainless steel water bottle.",
    "The patient reported mild headaches and trouble sleeping after the change in medication.",
    "Translate the following paragraph into plain English for a general audience.",
    "Our quarterly revenue grew by eight percent, driven mostly by new subscriptions.",
    "Explain how a hash function differs from an encryption function.",
    "The old bridge over the river was closed for repairs until the end of the month.",
    "List the steps needed to replace a bicycle chain at home.",
    "Customer feedback on the new interface has been mostly positive so far.",
    "What are the main causes of inflation in a small open economy?",
    "The library extended its opening hours during the examination period.",
    "A gentle breeze carried the smell of fresh bread down the narrow street.",
    "Please classify the sentiment of this review as positive, negative or neutral.",
    "The software update fixes a crash that occurred when saving large files.",
)


class TextPool:
    """Texts from recent ordinary jobs, to splice new inputs from."""

    def __init__(self) -> None:
        self.texts: deque[str] = deque(maxlen=RECENT_TEXTS)

    def learn(self, kind: str, value: Any) -> None:
        for text in texts_of(kind, value):
            if text.split():
                self.texts.append(text)

    def make_input(self, kind: str, template: Any, rng: random.Random) -> Any:
        """A fresh input shaped like `template` (an ordinary job's input)."""
        sources = [*self.texts, *CORPUS]
        fresh = [self._new_text(sources, text, rng) for text in texts_of(kind, template)]
        return fresh[0] if kind == "inference" else fresh

    def _new_text(self, sources: list[str], old: str, rng: random.Random) -> str:
        text = old
        for _ in range(16):  # a splice of a text with itself may give it back
            text = splice(sources, len(old.split()), rng)
            if text != old and text not in self.texts:
                break
        return text


def texts_of(kind: str, value: Any) -> list[str]:
    if kind == "inference":
        return [value] if isinstance(value, str) else []
    return [t for t in value if isinstance(t, str)] if isinstance(value, list) else []


def splice(sources: list[str], words: int, rng: random.Random) -> str:
    """About `words` words: the opening of one text and the ending of others."""
    words = max(1, words)
    head = rng.choice(sources).split()
    cut = rng.randint(1, max(1, min(len(head), words - 1)))
    out = head[:cut]
    while len(out) < words:
        tail = rng.choice(sources).split()
        take = min(len(tail), words - len(out))
        out += tail[len(tail) - take :]
    return " ".join(out[:words])
