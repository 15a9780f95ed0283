"""Is this an image folder we can train on? Checked when a folder is chosen or dropped, before any run folder exists."""
from __future__ import annotations

import os
from pathlib import Path

DECODE_SAMPLE = 8  # images decoded to prove the folder holds real pictures: quick even on a slow disk


def image_folder_problem(root: str | os.PathLike | None) -> str | None:
    """One line saying why `root` cannot be trained on (missing, not a folder, unreadable, too few
    images, no image that opens), or None when it can. Reads the listing and decodes a few images."""
    from workbench.build import MIN_FOLDER_IMAGES, MIN_TRAIN_ITEMS
    from workbench.data.base import DataError
    from workbench.data.folder import _decode, scan_images

    if not root or not str(root).strip():
        return "Choose an image folder."
    path = Path(root).expanduser()
    if not path.exists():
        return f"{path} does not exist."
    if not path.is_dir():
        return f"{path} is a file, not a folder: choose the folder that holds the images."
    if not os.access(path, os.R_OK | os.X_OK):
        return f"Cannot read the image folder {path}: permission denied."
    try:
        scan = scan_images(path)
    except DataError as exc:
        return str(exc)
    count = len(scan.files)
    if count == 0:
        where = f" ({len(scan.problems)} sub-folder(s) could not be read)" if scan.problems else ""
        return (f"{path} holds no images{where}: it needs PNG, JPEG, BMP, GIF, WebP or TIFF files, "
                f"directly or in one sub-folder per class.")
    if count < MIN_FOLDER_IMAGES:
        return (f"The folder holds {count} image{'' if count == 1 else 's'}; training needs at least "
                f"{MIN_FOLDER_IMAGES} ({MIN_TRAIN_ITEMS} to train on, 1 to test).")
    sample = scan.files[:: max(1, count // DECODE_SAMPLE)][:DECODE_SAMPLE]
    if all(_decode(path / rel, 8) is None for rel, _, _ in sample):
        return (f"None of the {len(sample)} images tried in {path} could be opened "
                f"(e.g. {sample[0][0]}): they may be damaged or not images.")
    return None
