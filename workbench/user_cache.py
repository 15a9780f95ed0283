"""Where the workbench keeps what it measured or derived once (image caches, floors, the method listing); torch-free."""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path


def cache_root() -> Path:
    """$SSL_WORKBENCH_CACHE, else ~/.cache/ssl-workbench/cache."""
    env = os.environ.get("SSL_WORKBENCH_CACHE")
    return Path(env).expanduser() if env else Path("~/.cache/ssl-workbench/cache").expanduser()


def plain_key(key: dict) -> dict:
    """`key` as JSON gives it back (paths and tuples as strings and lists), so a stored key compares equal."""
    return json.loads(json.dumps(key, default=str))


def keyed_path(folder: str, name_parts, key: dict) -> Path:
    """cache_root()/folder/<name>-<digest of key>.json: one file per distinct key, named by name_parts
    (dataset, method, ...) so that a person can tell them apart."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(str(p) for p in name_parts if p))[:48]
    return cache_root() / folder / f"{stem}-{digest}.json"


def read_keyed(path: Path, key: dict) -> dict | None:
    """The JSON object stored at path for `key` (its "key" field equal to it), or None: not there,
    unreadable, or stored for another key (a digest collision, a hand-edited file)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("key") == plain_key(key) else None
