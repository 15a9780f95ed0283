"""The floors a run's evaluation is read against (raw pixels, the run's method at random init), measured once per data,
method and backbone and cached on disk, plus how noisy a score on a small evaluation set is."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

from .config import RunConfig, load_run_config, to_dict
from .data import list_datasets
from .user_cache import keyed_path, plain_key, read_keyed
from .rundir import CONFIG_FILE, write_atomic

FORMAT_VERSION = 2  # 2: the random-init floor is read through the method's own `embed`, not the bare backbone
FLOOR_SEED = 0  # one random-init model per method and settings, whatever seed a run uses
RAW_NAMES = {"image": "raw pixels", "sequence": "raw signal"}
RANDOM_NAME = "random init"
# What a run's throughput counts, by modality (step events' img_s counts rows of the batch).
UNITS = {"image": "images", "sequence": "sequences", "text": "words"}
SHORT_UNITS = {"image": "img/s"}


def modality_of(dataset: str) -> str:
    """The modality of a dataset by registry name ("image" when the name is unknown)."""
    return next((i.modality for i in list_datasets() if i.name == dataset), "image")


def throughput_unit(modality: str, short: bool = False) -> str:
    """'images/s' ('img/s' short), 'sequences/s' or 'words/s'."""
    return (short and SHORT_UNITS.get(modality)) or f"{UNITS.get(modality, 'items')}/s"


def floors_key(cfg: RunConfig) -> dict:
    """What the floors depend on: the data as the run sees it and what the random-init model's `embed` depends
    on: the method, its settings (they choose the reading, e.g. CPC's window codes) and the backbone. The run's
    seed is not in it (the floor's model is seeded with FLOOR_SEED); text methods have no host backbone."""
    modality = modality_of(cfg.dataset)
    key = {"format": FORMAT_VERSION, "dataset": cfg.dataset, "data_root": cfg.data_root, "modality": modality,
           "method": cfg.method, "method_config": cfg.method_config}
    if modality == "image":
        key["image_size"] = cfg.image_size
    if modality != "text":
        key["backbone"] = cfg.backbone
    return key


def floors_path(key: dict) -> Path:
    return keyed_path("floors", (key["dataset"], key.get("method"), key.get("backbone")), key)


def read_floors(cfg: RunConfig) -> dict | None:
    """The cached floors for this run's data, method and backbone, or None (not measured yet, or unreadable)."""
    key = floors_key(cfg)
    return read_keyed(floors_path(key), key)


def run_floors(run_dir: Path | str) -> dict | None:
    """read_floors for a run folder (None when its config cannot be read)."""
    try:
        return read_floors(load_run_config(Path(run_dir) / CONFIG_FILE))
    except Exception:  # a half-written or foreign config: simply no floors to show
        return None


def floor_config(cfg: RunConfig) -> RunConfig:
    """The run's settings as its random-init floor is built: seed FLOOR_SEED and no backbone_weights (random
    init is random; a frozen first stage a method loads itself, e.g. VQ-VAE's tokenizer_run, stays)."""
    return RunConfig(**{**to_dict(cfg), "seed": FLOOR_SEED, "backbone_weights": None})


def random_init(cfg: RunConfig, dataset, device="cpu", splits: tuple[str, ...] = ("train", "test")):
    """The random-init floor's model and what it gives: (the run's method freshly built with floor_config,
    {split: its `embed` of every row of that split}). The one source of the random-init floor of the
    dashboard, the Runs tab, `ssl-workbench floors` (measure_floors) and `ssl-workbench eval` (assess.py),
    so they show the same figure for a run."""
    import torch

    from .build import build_method
    from .trainer import embed_all

    method = build_method(floor_config(cfg), dataset, device)
    rows = {"train": dataset.x_train, "test": dataset.x_test}
    return method, {split: embed_all(method, rows[split], torch.device(device)) for split in splits}


def measure_floors(cfg: RunConfig, device: str = "cpu") -> dict:
    """kNN top-1 (k = 20, T = 0.1, train split as memory bank: what the trainer's eval reports) of the raw data
    and of the run's method at random init, read through its `embed` (random_init); on text, word-similarity ρ
    of the method's random-init vectors. Written to the cache (atomically) and returned."""
    import torch

    from .data import load_dataset
    from .embeddings import compute_embeddings
    from .evaluate import knn_top1

    t0 = time.time()
    key = floors_key(cfg)
    modality = key["modality"]
    d = load_dataset(cfg.dataset, root=cfg.data_root, image_size=cfg.image_size)
    floors: list[dict] = []
    coverage: dict = {}
    if modality == "text":
        from .wordsim import score_fields, similarity_scores
        _, vectors = random_init(cfg, d, device, splits=("test",))
        scores, coverage = score_fields(similarity_scores(vectors["test"].numpy(), d.spec.vocab))
        floors.append({"name": RANDOM_NAME, "scores": scores})
    else:
        raw = [torch.from_numpy(compute_embeddings(lambda xb: xb.flatten(1), x)) for x in (d.x_train, d.x_test)]
        floors.append({"name": RAW_NAMES.get(modality, "raw data"),
                       "knn_top1": round(knn_top1(raw[0], d.y_train, raw[1], d.y_test, ks=(20,))[20], 4)})
        _, feats = random_init(cfg, d, device)
        # ks as eval and the trainer ask, so the top-k (and its ties) is the same computation as theirs
        floors.append({"name": RANDOM_NAME, "knn_top1": round(knn_top1(feats["train"], d.y_train, feats["test"],
                                                                        d.y_test, ks=(20, 200))[20], 4)})
    result = {"key": plain_key(key), "floors": floors, "coverage": coverage,
              "test_size": len(d.x_test), "measured": time.time(), "seconds": round(time.time() - t0, 2)}
    path = floors_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(result, indent=1, ensure_ascii=False).encode("utf-8"), durable=False)
    return result


def floor_knn(floors: dict | None, name: str) -> float | None:
    """A floor's kNN top-1 by name ('raw pixels', 'random init'), or None."""
    for floor in (floors or {}).get("floors", []):
        if floor.get("name") == name and isinstance(floor.get("knn_top1"), (int, float)):
            return float(floor["knn_top1"])
    return None


def floors_text(floors: dict) -> str:
    """'raw pixels 94.6 % · random init 31.2 %' (kNN top-1), or 'random init wordsim353 ρ 0.012 …' on text."""
    parts = []
    for floor in floors.get("floors", []):
        if "knn_top1" in floor:
            parts.append(f"{floor['name']} {100 * floor['knn_top1']:.1f} %")
        for label, value in floor.get("scores", {}).items():
            parts.append(f"{floor['name']} {label} {value:.3f}")
    return " · ".join(parts)


# --- how noisy a score on a small evaluation set is ------------------------------------------------
Z95 = 1.96


SPEARMAN_VARIANCE = 1.06  # Var(Fisher z of Spearman's ρ) ≈ 1.06 / (n − 3) (Fieller, Hartley & Pearson 1957)


def rho_noise(pairs: int) -> float | None:
    """Half-width of a 95 % interval of Spearman ρ over `pairs` pairs (Fisher z with Spearman's variance,
    at ρ = 0, back in ρ's units): differences smaller than this are noise. ±0.26 for the 60 WordSim pairs
    the Lee corpus covers, ±0.06 for all 1,000 of a large vocabulary; None below 4 pairs (no interval).
    The one band of the dashboard, the log, the Runs table and bench/methods.py's verdict."""
    return math.tanh(Z95 * math.sqrt(SPEARMAN_VARIANCE / (pairs - 3))) if pairs > 3 else None


def accuracy_noise(n: int, p: float = 0.5) -> float | None:
    """Half-width of a 95 % interval of an accuracy p measured on n items (binomial, normal approximation)."""
    return Z95 * math.sqrt(max(p * (1 - p), 1e-4) / n) if n > 0 else None
