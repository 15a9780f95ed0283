"""One judge of whether a run beats its floor, shared by `eval` and bench/methods.py."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .floors import rho_noise as _rho_band


@dataclass(frozen=True)
class Verdict:
    """Whether a run beats its floor, and the comparison that decided it. `beats` is None when the
    deciding figure is within noise of its floor (or there is none): not a pass."""

    beats: bool | None
    decided_by: str


def lower_is_better(label: str) -> bool:
    """NLL and perplexity fall as a model improves; accuracies rise."""
    return "NLL" in label or "perplexity" in label


def rho_noise(pairs: int) -> float:
    """ρ's 95 % noise band over `pairs` pairs (workbench.floors.rho_noise), infinite below 4 pairs:
    with no interval nothing is outside it."""
    band = _rho_band(pairs)
    return math.inf if band is None else band


def own_floors(measures: dict, random_measures: dict) -> list[tuple[str, float, str, float]]:
    """Every (measure, value, floor label, floor value) where a measure is followed by its own
    no-weights floor (the same quantity, equal in the random-init model), in order: BERT-lite's
    perplexity against the unigram model's and its accuracy against the most frequent word's."""
    items, pairs, used = list(measures.items()), [], set()
    for i, ((label, value), (floor, floor_value)) in enumerate(zip(items, items[1:])):
        if i in used or random_measures.get(floor) != floor_value or floor.split()[-1] != label.split()[-1]:
            continue
        pairs.append((label, value, floor, floor_value))
        used.add(i + 1)
    return pairs


def compare(label: str, value: float, floor_value: float, floor: str) -> tuple[bool, str]:
    """(whether the measure beats the floor, the comparison as text)."""
    beats = value < floor_value if lower_is_better(label) else value > floor_value
    sign = ("<" if beats else "≥") if lower_is_better(label) else (">" if beats else "≤")
    return beats, f"{label} {value:.4g} {sign} {floor_value:.4g} ({floor})"


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %"


def judge(measures: dict | None = None, random_measures: dict | None = None,
          knn: float | None = None, random_knn: float | None = None,
          rho: float | None = None, random_rho: float | None = None, rho_pairs: int = 0) -> Verdict:
    """One kind of figure decides, in this order: the method's own measures (each NLL, perplexity
    or accuracy against its no-weights floor, all of them beaten; a measure without one against
    random init: zero-shot accuracy); otherwise kNN top-1 against the random-init model;
    otherwise (text without a measure) WordSim-353 ρ against random-init vectors, which must clear
    ρ's noise band to count either way."""
    measures, random_measures = measures or {}, random_measures or {}
    pairs = own_floors(measures, random_measures)
    if pairs:  # every measure with a floor of its own must beat it
        compared = [compare(label, value, floor_value, floor) for label, value, floor, floor_value in pairs]
        return Verdict(all(b for b, _ in compared), "; ".join(text for _, text in compared))
    if measures:
        (label, value), *_ = measures.items()
        random = random_measures.get(label)
        if random is not None:
            return Verdict(*compare(label, value, random, "random init"))
    if knn is not None and random_knn is not None:
        beats = knn > random_knn
        return Verdict(beats, f"kNN {_pct(knn)} {'>' if beats else '≤'} {_pct(random_knn)} (random init)")
    if rho is not None and random_rho is not None:
        band, gap = rho_noise(rho_pairs), rho - random_rho
        figure = f"WordSim ρ {rho:.3f} vs {random_rho:.3f} (random init), noise ±{band:.2f}"
        return Verdict(None if abs(gap) <= band else gap > 0,
                       figure + (" over " + str(rho_pairs) + " pairs" if rho_pairs else ""))
    return Verdict(None, "no floor measured")


def judge_evaluation(result: dict) -> Verdict:
    """The verdict on an `evaluate_run` result that measured its floors."""
    model, random = result.get("model", {}), result.get("floor_random_init", {})
    return judge(result.get("measures"), random.get("measures"),
                 model.get("knn_top1"), random.get("knn_top1"),
                 model.get("wordsim353_rho"), random.get("wordsim353_rho"),
                 (model.get("wordsim353_pairs") or [0])[0])
