"""The floors' evaluation scores (kNN, probes, factor probes, measures) kept on disk by what they depend on, so
`eval` measures each floor once per data, method and seed instead of once per run and checkpoint."""
from __future__ import annotations

import json
from collections.abc import Callable

from .rundir import write_atomic
from .user_cache import keyed_path, plain_key, read_keyed

FORMAT_VERSION = 1
# The parts of floors.floors_key that describe the data alone: all the raw-pixel floor depends on.
DATA_KEYS = ("dataset", "data_root", "modality", "image_size")


def scores_path(key: dict):
    return keyed_path("eval-floors", (key.get("dataset"), key.get("floor")), key)


def cached_scores(key: dict, compute: Callable[[], dict]) -> dict:
    """The scores stored under `key`, or compute() stored there and returned (as JSON gives it back, so a
    first and a second eval print the same). An unreadable entry is measured again; a cache that cannot
    be written (full disk, read-only home) costs the next eval the time, never this one its result."""
    key = plain_key({"format": FORMAT_VERSION, **key})
    path = scores_path(key)
    stored = read_keyed(path, key)
    if stored is not None and isinstance(stored.get("scores"), dict):
        return stored["scores"]
    text = json.dumps({"key": key, "scores": compute()}, ensure_ascii=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text.encode("utf-8"), durable=False)
    except OSError:
        pass
    return json.loads(text)["scores"]
