"""One-line reasons for failed file writes (disk full, no permission, read-only) that name the file."""
from __future__ import annotations

import errno
import os

# The failures a person can act on, in their words; anything else keeps the OS's own text.
_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied (operation not permitted)",
    errno.EROFS: "read-only file system",
    errno.EFBIG: "file too large for this file system",
    errno.EIO: "input/output error (the disk or network share failed)",
}


def os_reason(err: BaseException) -> str:
    """Why an OS error happened, lower-case and short: 'no space left on device', 'permission denied'…"""
    code = getattr(err, "errno", None)
    if code in _REASONS:
        return _REASONS[code]
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return text[:1].lower() + text[1:]


def write_failure(path: str | os.PathLike, err: BaseException) -> str:
    """'cannot write PATH: REASON' in one line."""
    return f"cannot write {os.fspath(path)}: {os_reason(err)}"
