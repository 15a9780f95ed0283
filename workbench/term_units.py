"""The scale a method's term or measure is read on, from its name (perplexity, NLL (unit), accuracy) or else its values."""
from __future__ import annotations

import re

import numpy as np

FRACTION = "fraction"      # accuracies, rates, probabilities: 0…1
PERPLEXITY = "perplexity"  # tens to thousands
OTHER = ""                 # loss terms and anything undeclared, in the loss's own units
_FRACTION_WORDS = ("accuracy", "top-1", "top1", "agreement", "zero_shot", "zero-shot", "rate")
_UNIT = re.compile(r"\(([^()]*(?:nats|bits)[^()]*)\)")  # "test NLL (nats/image)" -> "nats/image"


def term_scale(name: str, values=None) -> str:
    """FRACTION, PERPLEXITY, a declared unit such as 'nats/image', or OTHER.

    Names say it first (methods label their measures in their unit, workbench.api.Method.measures);
    an undeclared series whose finite values all lie in 0…1 is read as a fraction too.
    """
    low = name.lower()
    if PERPLEXITY in low:
        return PERPLEXITY
    unit = _UNIT.search(low)
    if unit:
        return unit.group(1).strip()
    if any(word in low for word in _FRACTION_WORDS):
        return FRACTION
    if values is not None:
        v = np.asarray(values, dtype=float)
        v = v[np.isfinite(v)]
        if len(v) and v.min() >= 0.0 and v.max() <= 1.0:
            return FRACTION
    return OTHER
