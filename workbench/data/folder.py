"""Any folder of images, with class sub-folders (labelled) or without (unlabelled)."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from workbench.data.base import DataError, Dataset, make_dataset
from workbench.data.splits import split_indices

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
DEFAULT_IMAGE_SIZE = 32
MAX_SKIPPED_PATHS = 20


def find_images(root: Path) -> list[Path]:
    """Image files under root (recursive, sorted), ignoring hidden files and folders
    (e.g. macOS '._x.png' resource forks, which are not images)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if not f.startswith(".") and f.lower().endswith(IMAGE_SUFFIXES):
                found.append(Path(dirpath) / f)
    return found


def _decode(path: Path, size: int) -> np.ndarray | None:
    """RGB uint8 (size, size, 3): shorter side resized to size, then centre-cropped.
    None when PIL cannot read the file."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as img:
            img.draft("RGB", (size, size))  # lets JPEG decode at reduced scale: much faster
            rgb = img.convert("RGB")
            out = ImageOps.fit(rgb, (size, size), method=Image.Resampling.BICUBIC)
            return np.asarray(out, dtype=np.uint8)
    except Exception:  # PIL raises many types (OSError, SyntaxError, DecompressionBomb...)
        return None


def load_folder(root: str | os.PathLike | None, image_size: int | None = None) -> Dataset:
    """Load every readable image under root; unreadable files are skipped and reported."""
    if root is None or str(root).strip() == "":
        raise DataError("The 'folder' dataset needs a root: set --data-root to a folder of images.")
    root_path = Path(root).expanduser()
    if not root_path.exists():
        raise DataError(f"Image folder {root_path} does not exist: set --data-root to a folder of images.")
    if not root_path.is_dir():
        raise DataError(f"{root_path} is not a folder: set --data-root to a folder of images.")
    size = DEFAULT_IMAGE_SIZE if image_size is None else int(image_size)
    if size < 1:
        raise DataError(f"image_size must be a positive number of pixels, got {image_size}.")

    paths = find_images(root_path)
    rel_parts = [p.relative_to(root_path).parts for p in paths]
    # Labelled only when every image sits inside a class sub-folder (ImageFolder layout).
    labelled = bool(paths) and all(len(parts) >= 2 for parts in rel_parts)

    workers = min(8, os.cpu_count() or 1)  # PIL releases the GIL while decoding
    with ThreadPoolExecutor(max_workers=workers) as pool:
        decoded = list(pool.map(lambda p: _decode(p, size), paths))

    ok = [i for i, arr in enumerate(decoded) if arr is not None]
    bad = [str(paths[i]) for i, arr in enumerate(decoded) if arr is None]
    if not ok:
        looked = ", ".join(IMAGE_SUFFIXES)
        extra = f" ({len(bad)} unreadable)" if bad else ""
        raise DataError(f"No readable images in {root_path}{extra} (looked for {looked}).")
    if len(ok) < 2:
        raise DataError(
            f"Only one readable image in {root_path}; a train/test split needs at least 2."
        )

    images = np.stack([decoded[i].transpose(2, 0, 1) for i in ok])
    if labelled:
        # Classes come from readable images only, so no class is left with zero samples.
        class_names = sorted({rel_parts[i][0] for i in ok})
        index = {name: k for k, name in enumerate(class_names)}
        labels = np.array([index[rel_parts[i][0]] for i in ok], dtype=np.int64)
    else:
        class_names = []
        labels = np.full(len(ok), -1, dtype=np.int64)

    train, test = split_indices(labels if labelled else None, len(ok), test_fraction=0.2)
    ds = make_dataset("folder", images[train], labels[train], images[test], labels[test], class_names)
    ds.skipped = bad[:MAX_SKIPPED_PATHS]
    ds.skipped_count = len(bad)
    return ds
