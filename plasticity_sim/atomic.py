"""Write files so that readers never see half of one: temp file in the same folder, then rename.

Every file the package writes (results, checkpoints, downloads, decoded caches, executed chapters,
vendored JavaScript) goes through :func:`atomic_path`, so an interrupted run leaves either the old
file or the new one, never a truncated one, and no temporary file behind.

Explained in: book/dash/05_paper_scale.ipynb
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on error it is removed.

    The file is made world-readable (0644) before the rename: ``mkstemp`` creates it 0600, which
    would hide results and book assets from a web server or another user.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes | str) -> Path:
    """Atomically write ``data`` (text is UTF-8 encoded) to ``path``, fsynced before the rename."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)
