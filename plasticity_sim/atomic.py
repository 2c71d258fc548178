"""Write files so that readers never see half of one: temp file in the same folder, then rename;
and let one run at a time own a results file or checkpoint folder (:func:`held_lock`).

Every file the package writes (results, checkpoints, downloads, decoded caches, executed chapters,
vendored JavaScript) goes through :func:`atomic_path`, so an interrupted run leaves either the old
file or the new one under the final name, never a truncated one.

What is true of temporary files: an exception (including Ctrl-C) removes the temporary file at
once. A process killed outright (SIGKILL, power loss) cannot clean up, so its temporary file
``.<name>.<host>-<pid>.<random><suffix>`` stays next to the target until the next write to the same
target on the same host, which removes every such file whose writing process no longer exists.
Files of live processes (another writer of the same target) are left alone.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
import zlib
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path", "write_bytes", "stale_temporaries", "held_lock", "lock_file_of", "LockedError"]


def _host_tag() -> str:
    """A short, file-name-safe tag of this host (temp files of other hosts are never touched)."""
    return f"{zlib.crc32(socket.gethostname().encode()):08x}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # exists but belongs to someone else, or cannot tell
        return True
    return True


def stale_temporaries(path: str | os.PathLike, *, suffix: str = ".tmp") -> list[Path]:
    """Temporary files of ``path`` (with ``suffix``) left by killed writers on this host.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    pattern = re.compile(re.escape(f".{path.name}.{_host_tag()}-") + r"(\d+)\.[^/]*"
                         + re.escape(suffix) + r"\Z")
    out = []
    for p in path.parent.iterdir():
        m = pattern.match(p.name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            out.append(p)
    return sorted(out)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = ".tmp", exclusive: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on error it is removed.

    ``exclusive=True``: the temporary file is published only if ``path`` does not exist (a hard
    link, which the kernel refuses atomically when the name is taken), else ``FileExistsError``
    and ``path`` is untouched: two writers can never both believe they wrote it.

    Before writing, temporary files of the same target left by killed writers are removed (see the
    module docstring). The file is made world-readable (0644) before the rename: ``mkstemp``
    creates it 0600, which would hide results and book assets from a web server or another user.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in stale_temporaries(path, suffix=suffix):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_host_tag()}-{os.getpid()}.",
                               suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        if exclusive:
            os.link(tmp, path)       # FileExistsError if taken; never replaces
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike, data: bytes | str, *, exclusive: bool = False) -> Path:
    """Atomically write ``data`` (text is UTF-8 encoded) to ``path``, fsynced before the rename
    (``exclusive``: see :func:`atomic_path`)."""
    with atomic_path(path, exclusive=exclusive) as tmp, open(tmp, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def lock_file_of(target: str | os.PathLike, *, folder: bool = False) -> Path:
    """The lock file a run holds on ``target`` while it runs: ``.<name>.lock`` beside a results file,
    ``.lock`` inside a checkpoint folder."""
    target = Path(target)
    return target / ".lock" if folder else target.parent / f".{target.name}.lock"


class LockedError(ValueError):
    """Another live process holds the lock: a usage error (pick another path or wait)."""


@contextlib.contextmanager
def held_lock(lock_file: str | os.PathLike, what: str) -> Iterator[Path]:
    """Hold an exclusive, non-blocking ``flock`` on ``lock_file`` for the ``with`` block, then remove it.

    Why flock on a side file: the kernel drops the lock when its holder dies (even by SIGKILL), so
    a killed run never leaves a folder locked forever, and a second run on the same target fails
    at once (:class:`LockedError` naming ``what``) instead of both writing. The inode check after
    locking closes the race with a holder that is removing the file as we open it.
    """
    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:   # no flock (Windows): an exclusively created file; a killed run leaves it
        try:
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise LockedError(f"{what} is in use by another run (lock {str(lock_file)!r}; delete it if "
                              "no run is going)") from None
        try:
            yield lock_file
        finally:
            os.close(fd)
            os.unlink(lock_file)
        return
    while True:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockedError(f"{what} is in use by another running process (lock {str(lock_file)!r}); "
                              "wait for it to finish or choose another path") from None
        try:
            same = os.stat(lock_file).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)               # locked a file its holder had just removed: take the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
        yield lock_file
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_file)   # while still holding it, so no one locks a file we delete
        os.close(fd)
