"""Any folder of images, with class sub-folders (labelled) or without (unlabelled), read
through the on-disk cache (decoded once per stored size, reused until the folder changes)."""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.data.base import DataError, Dataset, make_dataset
from workbench.data.cache import Cancel, Progress, build_entry, entry_dir, fingerprint, open_entry, \
    stored_size, writable_root
from workbench.data.splits import split_indices
from workbench.data.store import ImageRows

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
DEFAULT_IMAGE_SIZE = 32
MAX_SKIPPED_PATHS = 20


@dataclass
class Scan:
    """What a scan of an image folder found: regular image files and what it could not read."""

    files: list[tuple[str, int, int]] = field(default_factory=list)  # (relative path, size, mtime_ns)
    problems: list[str] = field(default_factory=list)  # "path (why)" for folders it could not list


def scan_images(root: Path) -> Scan:
    """Image files under root (recursive, sorted), regular files only.

    FIFOs, sockets and device nodes are never opened (reading a FIFO blocks forever); hidden
    files and folders are ignored (e.g. macOS '._x.png' resource forks, which are not images);
    symlinked folders are not followed (loops). A sub-folder that cannot be listed is reported
    in problems; an unreadable root is a DataError saying "permission denied".
    """
    scan = Scan()

    def walk(folder: Path, rel: str) -> None:
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except PermissionError:
            if not rel:
                raise DataError(f"Cannot read the image folder {folder}: permission denied.") from None
            scan.problems.append(f"{folder} (permission denied)")
            return
        except OSError as e:
            if not rel:
                raise DataError(f"Cannot read the image folder {folder}: {e.strerror or e}.") from None
            scan.problems.append(f"{folder} ({e.strerror or e})")
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = f"{rel}{entry.name}"
            try:
                if entry.is_dir(follow_symlinks=False):
                    walk(Path(entry.path), path + "/")
                    continue
                if not entry.name.lower().endswith(IMAGE_SUFFIXES):
                    continue
                st = entry.stat()  # follows a symlink to the file it names
            except OSError:
                continue  # vanished or a dangling link: not an image
            if stat.S_ISREG(st.st_mode):
                scan.files.append((path, int(st.st_size), int(st.st_mtime_ns)))

    walk(root, "")
    return scan


def _open_regular(path: Path):
    """A binary file object for path, or None unless it is a regular file (checked on the
    opened descriptor, so a file swapped for a FIFO after the scan cannot block us)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")


def _decode(path: Path, size: int) -> np.ndarray | None:
    """RGB uint8 (size, size, 3): shorter side resized to size, then centre-cropped.
    None when the file is not a regular file or PIL cannot read it."""
    from PIL import Image, ImageOps

    handle = _open_regular(path)
    if handle is None:
        return None
    try:
        with handle, Image.open(handle) as img:
            img.draft("RGB", (size, size))  # lets JPEG decode at reduced scale: much faster
            rgb = img.convert("RGB")
            out = ImageOps.fit(rgb, (size, size), method=Image.Resampling.BICUBIC)
            return np.asarray(out, dtype=np.uint8)
    except Exception:  # PIL raises many types (OSError, SyntaxError, DecompressionBomb...)
        return None


def folder_cache(root: Path, scan: Scan, side: int, progress: Progress = None, cancel: Cancel = None):
    """The cache entry of root's images at side px: reused when the files are unchanged, else built."""
    source = str(root.resolve())
    print_ = fingerprint(scan.files, extra=f"folder|{source}|{side}")
    final = entry_dir("folder", source, f"{side}px")
    entry = open_entry(final, print_)
    if entry is not None:
        if progress is not None:
            progress(1.0)
        return entry
    writable_root()
    paths = [root / rel for rel, _, _ in scan.files]
    return build_entry(final, (len(paths), 3, side, side),
                       lambda i: _channels_first(_decode(paths[i], side)),
                       arrays={}, manifest={"kind": "folder", "source": source, "fingerprint": print_,
                                            "files": [rel for rel, _, _ in scan.files]},
                       progress=progress, cancel=cancel)


def _channels_first(arr: np.ndarray | None) -> np.ndarray | None:
    return None if arr is None else arr.transpose(2, 0, 1)


def load_folder(root: str | os.PathLike | None, image_size: int | None = None,
                progress: Progress = None, cancel: Cancel = None) -> Dataset:
    """Every readable image under root, kept on disk (see workbench/data/cache.py).

    Labelled (class = first sub-folder) when most readable images sit in sub-folders; images
    at the root of such a tree are then skipped with a warning. Unreadable files and folders
    are skipped and reported in skipped/skipped_count.
    """
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

    scan = scan_images(root_path)
    entry = folder_cache(root_path, scan, stored_size(size), progress, cancel) if scan.files else None
    rels = entry.manifest["files"] if entry is not None else []
    ok = entry.arrays["ok"] if entry is not None else np.zeros(0, dtype=bool)
    bad = [str(root_path / rels[i]) for i in np.flatnonzero(~ok)]
    readable = np.flatnonzero(ok)
    if len(readable) == 0:
        looked = ", ".join(IMAGE_SUFFIXES)
        extra = f" ({len(bad)} unreadable)" if bad else ""
        why = f"; could not read {', '.join(scan.problems[:3])}" if scan.problems else ""
        raise DataError(f"No readable images in {root_path}{extra} (looked for {looked}){why}.")

    in_class = np.array(["/" in rels[i] for i in readable])
    # A class-folder tree: most readable images in sub-folders. Stray images at its root would
    # otherwise turn every image unlabelled, so they are skipped (and reported) instead.
    labelled = in_class.sum() > (~in_class).sum()
    skipped = list(scan.problems) + bad
    if labelled:
        skipped += [f"{root_path / rels[i]} (not in a class folder)" for i in readable[~in_class]]
        readable = readable[in_class]
    if len(readable) < 2:
        raise DataError(
            f"Only one readable image in {root_path}; a train/test split needs at least 2."
        )
    if labelled:
        # Classes come from readable images only, so no class is left with zero samples.
        first = [rels[i].split("/", 1)[0] for i in readable]
        class_names = sorted(set(first))
        index = {name: k for k, name in enumerate(class_names)}
        labels = np.array([index[c] for c in first], dtype=np.int64)
    else:
        class_names = []
        labels = np.full(len(readable), -1, dtype=np.int64)

    train, test = split_indices(labels if labelled else None, len(readable), test_fraction=0.2)
    channels = entry.store.shape[1]
    # make_dataset normalises tensors; the images themselves stay on disk as views.
    ds = make_dataset("folder", np.zeros((len(train), channels, 1, 1), np.uint8), labels[train],
                      np.zeros((len(test), channels, 1, 1), np.uint8), labels[test], class_names)
    ds.x_train = ImageRows(entry.store, readable[train], size)
    ds.x_test = ImageRows(entry.store, readable[test], size)
    ds.spec.input_shape = (channels, size, size)
    ds.skipped = skipped[:MAX_SKIPPED_PATHS]
    ds.skipped_count = len(skipped)
    return ds
