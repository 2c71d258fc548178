"""Fetching files safely: timeouts, bounded retries, checksums, bounded archive reads.

Everything read from the outside world is bounded before it is allocated: a download's declared
and streamed length (``max_bytes``), an archive's members (declared sizes, and bytes while it
decompresses), so a stalled server, a short body or a small archive that expands to gigabytes ends
in one error naming the file and what to do, also with ``verify=False``. Files are written
atomically (a ``.part`` file is removed on any error). The datasets that use this live in
:mod:`plasticity_sim.data.download`.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import math
import os
import tarfile
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ..atomic import atomic_path

class ChecksumError(ValueError):
    """A file's hash differs from the published one (corrupt or partial download)."""


class CorruptArchiveError(ValueError):
    """A file cannot be read as the archive format it should be."""


class DownloadError(OSError):
    """A download failed: network down, server stalled, body truncated or too large."""


DEFAULT_TIMEOUT = 30.0          # seconds one socket read may wait
DEFAULT_RETRIES = 3             # tries in all per file
MAX_DOWNLOAD_BYTES = 4 << 30    # the largest source (Tiny-ImageNet) is 248 MB
MAX_ARCHIVE_BYTES = 1 << 30     # uncompressed bytes read from one archive (CIFAR: 185 MB)
MAX_SVHN_IMAGES = 1_000_000     # images in one SVHN .mat file (train: 73,257; extra: 531,131)
MAX_IMAGES = 1_000_000          # images in one Tiny-ImageNet split (train: 100,000)
MAX_IMAGE_SIDE = 512            # pixels per side of one decoded image (Tiny-ImageNet: 64)


@dataclass(frozen=True)
class Source:
    filename: str
    url: str
    md5: str | None = None      # as published by the source (or long-standing loaders)
    sha256: str | None = None   # checked instead of md5 when known


def data_dir(root=None) -> Path:
    """The cache directory: `root`, else $PLASTICITY_SIM_DATA, else ~/.cache/plasticity_sim.
    """
    if root is None:
        root = os.environ.get("PLASTICITY_SIM_DATA") or Path.home() / ".cache" / "plasticity_sim"
    return Path(root).expanduser()


def _hashes(path: Path, chunk: int = 1 << 20) -> dict[str, str]:
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            md5.update(block)
            sha.update(block)
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}


def _check(path: Path, source: Source, hashes: dict[str, str]) -> None:
    algo = "sha256" if source.sha256 else "md5"
    expected = source.sha256 or source.md5
    if expected and hashes[algo] != expected.lower():
        raise ChecksumError(f"checksum mismatch for {path}: expected {algo} {expected}, got "
                            f"{hashes[algo]} (corrupt or partial download; delete the file and "
                            "download it again)")


def _positive_number(name: str, value, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name}={value!r}: must be a finite number {'>=' if allow_zero else '>'} 0")
    return float(value)


def _retryable(err: BaseException) -> bool:
    """Network trouble worth another try: timeouts, resets, truncated bodies, server errors."""
    if isinstance(err, urllib.error.HTTPError):
        return err.code >= 500 or err.code in (408, 429)
    return isinstance(err, (urllib.error.URLError, TimeoutError, ConnectionError,
                            http.client.HTTPException, _Truncated))


class _Truncated(OSError):
    """The body ended before (or ran past) its declared Content-Length."""


def _download_once(source: Source, path: Path, *, timeout: float, max_bytes: int, verify: bool,
                   progress: bool) -> dict[str, str]:
    """One try: stream `source.url` into a temporary file, check size and hash, rename into place."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    with atomic_path(path, suffix=".part") as tmp:
        with urllib.request.urlopen(source.url, timeout=timeout) as resp:
            declared = resp.headers.get("Content-Length")
            try:
                total = int(declared) if declared is not None else None
            except ValueError:
                total = None
            if total is not None and (total < 0 or total > max_bytes):
                raise DownloadError(f"{source.url} declares Content-Length {declared}, outside "
                                    f"0..{max_bytes} bytes (max_bytes); refusing to download it to "
                                    f"{path}")
            got = 0
            with open(tmp, "wb") as out, tqdm(total=total, unit="B", unit_scale=True,
                                              desc=source.filename, disable=not progress) as bar:
                while block := resp.read(1 << 20):
                    got += len(block)
                    if got > max_bytes:
                        raise DownloadError(f"{source.url} sent more than {max_bytes} bytes "
                                            f"(max_bytes); refusing to keep it at {path}")
                    if total is not None and got > total:
                        raise _Truncated(f"body longer than its Content-Length {total}")
                    out.write(block)
                    md5.update(block)
                    sha.update(block)
                    bar.update(len(block))
            if total is not None and got != total:
                raise _Truncated(f"got {got} of {total} bytes (connection closed early)")
        hashes = {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}
        if verify:  # raises before the rename: a bad download never lands at the final path
            _check(path, source, hashes)
    return hashes


def fetch(source: Source, root=None, *, download: bool = False, verify: bool = True,
          progress: bool = False, timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES,
          backoff: float = 1.0, max_bytes: int = MAX_DOWNLOAD_BYTES) -> tuple[Path, dict[str, str]]:
    """Path of `source` in the cache (downloaded if asked) and its md5/sha256.

    Missing file and `download=False` -> FileNotFoundError naming the path and the URL. A download
    goes to a temporary file in the same directory, is hashed while written, checked, and only
    then renamed into place; on any error the temporary file is removed, so no half-written file
    is ever left under the final name. `verify=False` skips the hash comparison, never the size
    checks: a body shorter or longer than its Content-Length, or over `max_bytes`, is refused.

    Every socket read waits at most `timeout` seconds; a stalled, reset or truncated transfer and
    HTTP 5xx are tried `retries` times in all, sleeping `backoff`, 2 `backoff`, ... seconds between
    tries. What still fails raises :class:`DownloadError` (an OSError) naming the URL, the path
    and what to do.
    """
    timeout = _positive_number("timeout", timeout)
    backoff = _positive_number("backoff", backoff, allow_zero=True)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 1 <= retries <= 100:
        raise ValueError(f"retries={retries!r}: must be an integer in [1, 100] (tries in all)")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"max_bytes={max_bytes!r}: must be an integer >= 1")
    root = data_dir(root)
    path = root / source.filename
    if path.exists():
        hashes = _hashes(path)
        if verify:
            _check(path, source, hashes)
        return path, hashes
    if not download:
        raise FileNotFoundError(f"{path} not found; pass download=True to fetch it from "
                                f"{source.url}, or put the file there yourself")
    for attempt in range(1, retries + 1):
        try:
            return path, _download_once(source, path, timeout=timeout, max_bytes=max_bytes,
                                        verify=verify, progress=progress)
        except (DownloadError, ChecksumError):
            raise
        except Exception as err:
            if not _retryable(err):
                if isinstance(err, urllib.error.HTTPError):
                    raise DownloadError(f"cannot download {source.url} to {path}: HTTP {err.code} "
                                        f"{err.reason}; check the URL, or download the file by "
                                        "hand and put it there") from err
                raise
            if attempt == retries:
                reason = getattr(err, "reason", None) or err
                raise DownloadError(
                    f"cannot download {source.url} to {path} after {retries} tries "
                    f"({type(err).__name__}: {reason}; timeout {timeout:g} s per read); check the "
                    "network connection and try again, or download the file by hand and put it "
                    "there") from err
            time.sleep(backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover


class _Bounded(io.RawIOBase):
    """A read-only stream that raises CorruptArchiveError once more than `limit` bytes came out."""

    def __init__(self, raw, limit: int, archive: Path):
        self.raw, self.limit, self.archive, self.count = raw, limit, archive, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self.raw.read(len(b))
        self.count += len(data)
        if self.count > self.limit:
            raise CorruptArchiveError(f"{self.archive} expands to more than {self.limit} bytes "
                                      "(max_bytes): not the expected archive (a decompression "
                                      "bomb?); delete it and download again")
        b[:len(data)] = data
        return len(data)


def read_tar_members(archive: Path, names: list[str], optional=(),
                      max_bytes: int = MAX_ARCHIVE_BYTES) -> dict[str, bytes]:
    """Read the named regular members (nothing is extracted to disk); `optional` may be absent.

    Bounded before allocation, with or without checksum verification: the declared sizes of the
    members read may total at most `max_bytes`, and so may the whole decompressed stream (checked
    while it streams). The gzip trailer (CRC and length) is read and checked too.
    """
    out, wanted, declared = {}, {*names, *optional}, 0
    try:
        # One forward pass (stream mode "r|"): getmember/extractfile would seek backwards and
        # decompress the archive again for every member. gzip.GzipFile checks the trailer at EOF.
        with gzip.GzipFile(archive, "rb") as gz:
            stream = _Bounded(gz, max_bytes, archive)
            with tarfile.open(fileobj=stream, mode="r|") as tf:
                for member in tf:
                    if member.name in wanted and member.isfile():
                        declared += member.size
                        if declared > max_bytes:
                            raise CorruptArchiveError(
                                f"{archive}: member {member.name!r} declares {member.size} bytes, "
                                f"more than the {max_bytes}-byte bound (max_bytes) in all: not the "
                                "expected archive; delete it and download again")
                        data = tf.extractfile(member).read()
                        if len(data) != member.size:
                            raise EOFError(f"member {member.name!r} is {len(data)} of "
                                           f"{member.size} bytes")
                        out[member.name] = data
            while stream.read(1 << 20):   # to the end: gzip checks its CRC and length trailer
                pass
    except CorruptArchiveError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise CorruptArchiveError(f"{archive} is corrupt or partial ({type(e).__name__}: {e}); "
                                  "delete it and download again") from e
    missing = [n for n in names if n not in out]
    if missing:
        raise CorruptArchiveError(f"{archive} lacks member {missing[0]!r}: not the expected "
                                  "archive, or it is truncated")
    return out
