"""Captions made from ground-truth factors ("a small red triangle at the top left, turned 45°") and their word ids."""
from __future__ import annotations

import itertools
import re

import numpy as np

PAD, UNK = "<pad>", "<unk>"
NOUN = "shape"  # stands in for the shape when a caption leaves it out
# Words of the caption template itself; the factor values are added per dataset.
TEMPLATE_WORDS = ("a", "at", "the", "turned", "with", NOUN)
_WORD = re.compile(r"[^\s,;:!?]+")
ROLES = ("size", "colour", "shape", "y", "x", "rotation")  # the factors the phrase itself places


def caption(factors: dict[str, list[str]], codes: dict[str, int], keep: set[str] | None = None) -> str:
    """The caption of one item from its factor codes, naming only the factors in `keep` (all by
    default). The shapes factors (size, colour, shape, y, x, rotation) read as an English phrase;
    any other factor is appended as "with <name> <value>"."""
    keep = set(factors) if keep is None else keep

    def word(name: str) -> str | None:
        return factors[name][int(codes[name])] if name in factors and name in keep else None

    adjectives = [w for w in (word("size"), word("colour")) if w]
    parts = ["a", *adjectives, word("shape") or NOUN]
    place = [w for w in (word("y"), word("x")) if w]
    if place:
        parts += ["at", "the", *place]
    text = " ".join(parts)
    if word("rotation"):
        text += f", turned {word('rotation')}"
    for name in factors:
        if name not in ROLES and word(name):
            text += f" with {name} {word(name)}"
    return text


def prompt(factors: dict[str, list[str]], name: str, value: int) -> str:
    """The zero-shot prompt for one factor value: a caption naming that factor only."""
    return caption(factors, {name: value}, keep={name})


def all_captions(factors: dict[str, list[str]]) -> list[str]:
    """Every full caption (one per combination of factor values), in a fixed order."""
    names = list(factors)
    return [caption(factors, dict(zip(names, combo)))
            for combo in itertools.product(*(range(len(factors[n])) for n in names))]


def words(text: str) -> list[str]:
    """The words of a caption as the vocabulary holds them: lower case, punctuation dropped."""
    return [w for w in (m.lower().rstrip(".") for m in _WORD.findall(text)) if w]


class CaptionVocab:
    """Word ids for captions of one factor set: 0 is padding, 1 unknown words."""

    def __init__(self, factors: dict[str, list[str]]):
        found = [*TEMPLATE_WORDS, *(w for values in factors.values() for v in values for w in words(v)),
                 *(w for name in factors if name not in ROLES for w in words(name))]
        self.words = [PAD, UNK, *dict.fromkeys(found)]
        self.ids = {w: i for i, w in enumerate(self.words)}
        # people type "turned 45" as often as "turned 45°"
        self.ids.update({w[:-1]: i for w, i in list(self.ids.items()) if w.endswith("°") and w[:-1] not in self.ids})
        wordiest = {n: max(range(len(vs)), key=lambda i, vs=vs: len(words(vs[i]))) for n, vs in factors.items()}
        self.max_len = len(words(caption(factors, wordiest)))  # the longest caption there is

    def __len__(self) -> int:
        return len(self.words)

    def unknown(self, text: str) -> list[str]:
        """Words of `text` the vocabulary does not know (they read as <unk>)."""
        return [w for w in words(text) if w not in self.ids]

    def encode(self, texts: list[str]) -> np.ndarray:
        """int64 (N, max_len) word ids, padded with 0 (longer captions are cut)."""
        out = np.zeros((len(texts), self.max_len), np.int64)
        for i, text in enumerate(texts):
            ids = [self.ids.get(w, 1) for w in words(text)][: self.max_len]
            out[i, : len(ids)] = ids
        return out
