"""Where the workbench keeps what it measured or derived once (image caches, floors, the method listing); torch-free."""
from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$SSL_WORKBENCH_CACHE, else ~/.cache/ssl-workbench/cache."""
    env = os.environ.get("SSL_WORKBENCH_CACHE")
    return Path(env).expanduser() if env else Path("~/.cache/ssl-workbench/cache").expanduser()
