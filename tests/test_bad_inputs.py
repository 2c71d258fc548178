"""Issue #13, "fail before the work, never after it": a table of bad inputs and of good ones.

Every BAD case performs one bad action and must end in ONE clear exception of the expected type
whose message names the bad value or path (the `names` regex) and leaves nothing written: the files
under the case's tmp_path are the same (names, sizes, modification times) before and after it.
Every GOOD case must simply succeed (it asserts its own result). The run's summary line (see
tests/conftest.py) prints "bad inputs: <cases> cases, <handled> handled", so the number only grows.

To add a case: append a `Bad(...)` to BAD (or a `Good(...)` to GOOD). `setup(tmp_path)` builds what
the action needs (its files are part of the "before" snapshot); `act(tmp_path, ctx)` gets what
setup returned and performs the bad action. CLI cases use `cli(main, argv)`, which turns exit
status 2 into `CliError(stderr)`, e.g.
    Bad("cli-bad-set", act=lambda p, _: cli(plasticity_sim.cli.main, ["run", "--set", "x=1"]),
        raises=CliError, names=r"error: .*x=1")
No network: downloads go to a local HTTP server on 127.0.0.1 started by this module.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.server
import io
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from plasticity_sim.atomic import _host_tag, write_bytes
from plasticity_sim.data import download, load_dataset
from plasticity_sim.data.download import (ChecksumError, CorruptArchiveError, DownloadError,
                                          Source, fetch)
from plasticity_sim.data.offline import load_mnist1d, make_feature_noise
from plasticity_sim.data.transforms import iterate_minibatches, random_chunks
from plasticity_sim.theory import bounds
from plasticity_sim.theory.experiment import Fig3Config
from plasticity_sim.theory.model import sample_points
from plasticity_sim.theory.process import (expected_test_accuracy, simulate,
                                             trace_training_run)
from plasticity_sim.published import load_table
from plasticity_sim.published.__main__ import main as published_main


# ------------------------------------------------------------------------------------ the table

@dataclass(frozen=True)
class Bad:
    id: str
    act: Callable[[Path, Any], Any]          # performs the bad action
    raises: type[BaseException] | tuple      # the one exception type expected
    names: str                               # regex the message must match: the value + what to do
    setup: Callable[[Path], Any] = field(default=lambda p: None)


@dataclass(frozen=True)
class Good:
    id: str
    check: Callable[[Path], None]            # does the good thing and asserts its result


class CliError(Exception):
    """A CLI's `error: ...` exit 2, with what it printed to stderr as the message."""


def cli(main: Callable[[list[str]], int], argv: list[str]) -> int:
    """Run a CLI main(argv); exit status 2 (returned or SystemExit) raises CliError(stderr)."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            rc = main(argv)
    except SystemExit as e:
        rc = e.code
    if rc == 2:
        raise CliError(err.getvalue())
    return rc


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------ local HTTP server

_hits: dict[str, int] = {}
_release = threading.Event()


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):   # quiet
        pass

    def _send(self, body: bytes, length: int | None = None, code: int = 200):
        self.send_response(code)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_GET(self):
        path = self.path.split("?")[0]
        _hits[self.path] = _hits.get(self.path, 0) + 1
        if path == "/ok":
            self._send(b"payload" * 100, 700)
        elif path == "/stall":             # headers, a few bytes, then nothing until released
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            _release.wait(10)
        elif path == "/short":             # declares 1000 bytes, sends 10, closes
            self._send(b"x" * 10, 1000)
        elif path == "/huge":              # declares a terabyte
            self._send(b"", 10 ** 12)
        elif path == "/nolength":          # no Content-Length: 100 bytes, then close
            self._send(b"y" * 100)
        elif path == "/flaky":             # 500 on the first try, the payload afterwards
            if _hits[self.path] == 1:
                self._send(b"busy", 4, code=500)
            else:
                self._send(b"payload" * 100, 700)
        else:
            self._send(b"not found", 9, code=404)


_server: list = []


def url(path: str) -> str:
    """URL of `path` on the module's local server (started on first use)."""
    if not _server:
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        _server.append(srv)
    return f"http://127.0.0.1:{_server[0].server_address[1]}{path}"


@pytest.fixture(scope="module", autouse=True)
def _stop_server():
    yield
    _release.set()
    if _server:
        _server[0].shutdown()
        _server[0].server_close()


def _closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                 # nothing listens there now: "network down"
    return f"http://127.0.0.1:{port}/file.bin"


def _get(path_or_url: str, root: Path, **kw):
    src = Source("file.bin", path_or_url if "://" in path_or_url else url(path_or_url))
    return fetch(src, root / "cache", download=True, verify=kw.pop("verify", False),
                 **{"timeout": 2.0, "retries": 1, "backoff": 0, **kw})


# ------------------------------------------------------------------------------------ archives

def _tar_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _cifar10_members(n: int = 1) -> dict[str, bytes]:
    rec = bytes([3]) + bytes(range(256)) * 12        # label 3, 3072 pixel bytes
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    return {f"cifar-10-batches-bin/{f}": rec * n for f in names}


def _cifar_archive(root: Path, raw: bytes) -> Path:
    path = root / "cifar-10-binary.tar.gz"
    path.write_bytes(raw)
    return path


def _gzip_without_trailer(root: Path) -> Path:
    blob = gzip.compress(_tar_bytes(_cifar10_members()))
    return _cifar_archive(root, blob[:-8])           # CRC32 and ISIZE cut off


def _tar_declaring_huge_member(root: Path) -> Path:
    info = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin")
    info.size = 3_200_000_000                        # "3.2 GB", with no data behind it
    return _cifar_archive(root, gzip.compress(info.tobuf(format=tarfile.USTAR_FORMAT)))


def _tar_bomb(root: Path) -> Path:
    members = {"cifar-10-batches-bin/padding.bin": bytes(4 << 20), **_cifar10_members()}
    return _cifar_archive(root, gzip.compress(_tar_bytes(members), compresslevel=1))


def _svhn(root: Path, X, y, name="train_32x32.mat") -> Path:
    import scipy.io

    scipy.io.savemat(root / name, {"X": X, "y": y})
    return root / name


def _svhn_pair(root: Path, X, y) -> None:
    _svhn(root, X, y)
    _svhn(root, np.zeros((32, 32, 3, 2), np.uint8), np.array([[1], [2]]), "test_32x32.mat")


def _jpeg(size=8, color=(10, 200, 30)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _tiny(root: Path, annotations: str = "val_0.JPEG\tn01\t0\t0\t7\t7\n", big: int = 0) -> Path:
    top = "tiny-imagenet-200/"
    path = root / "tiny-imagenet-200.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(top + "train/n01/images/n01_0.JPEG", _jpeg(big or 8))
        zf.writestr(top + "train/n02/images/n02_0.JPEG", _jpeg(8, (200, 0, 0)))
        zf.writestr(top + "val/images/val_0.JPEG", _jpeg(8))
        zf.writestr(top + "val/val_annotations.txt", annotations)
    return path


def _points():
    return sample_points(np.full((2, 10), 0.3), 50, np.random.default_rng(0))


def _json(root: Path, text: str) -> Path:
    (root / "t.json").write_text(text)
    return root / "t.json"


# ----------------------------------------------------------------------------------- BAD cases

BAD: list[Bad] = [
    # --- item 5: downloads: timeouts, bounded retries, network down
    Bad("fetch-stalled-server", lambda p, _: _get("/stall", p, timeout=0.2, retries=2),
        DownloadError, r"/stall to .*file\.bin after 2 tries .*timeout 0\.2 s.*check the network"),
    Bad("fetch-network-down", lambda p, u: _get(u, p, retries=2), DownloadError,
        r"cannot download http://127\.0\.0\.1:\d+/file\.bin .*after 2 tries",
        setup=lambda p: _closed_port_url()),
    Bad("fetch-http-404", lambda p, _: _get("/missing", p, retries=3), DownloadError,
        r"/missing to .*HTTP 404.*check the URL"),
    Bad("fetch-timeout-zero", lambda p, _: _get("/ok", p, timeout=0), ValueError,
        r"timeout=0: must be a finite number > 0"),
    Bad("fetch-timeout-nan", lambda p, _: _get("/ok", p, timeout=float("nan")), ValueError,
        r"timeout=nan"),
    Bad("fetch-retries-zero", lambda p, _: _get("/ok", p, retries=0), ValueError,
        r"retries=0: must be an integer in \[1, 100\]"),
    Bad("fetch-missing-without-download",
        lambda p, _: fetch(Source("file.bin", url("/ok")), p / "cache"), FileNotFoundError,
        r"cache/file\.bin not found; pass download=True"),
    # --- item 9: sizes from the outside world, also with verify=False
    Bad("fetch-short-body-unverified", lambda p, _: _get("/short", p), DownloadError,
        r"/short .*got 10 of 1000 bytes"),
    Bad("fetch-declared-terabyte", lambda p, _: _get("/huge", p), DownloadError,
        r"/huge declares Content-Length 1000000000000.*max_bytes"),
    Bad("fetch-undeclared-over-max-bytes", lambda p, _: _get("/nolength", p, max_bytes=50),
        DownloadError, r"/nolength sent more than 50 bytes"),
    Bad("fetch-checksum-mismatch",
        lambda p, _: fetch(Source("file.bin", url("/ok"), md5="0" * 32), p / "cache",
                           download=True, timeout=2, retries=1), ChecksumError,
        r"checksum mismatch for .*file\.bin: expected md5 0{32}"),
    Bad("cifar-gzip-without-trailer",
        lambda p, _: load_dataset("cifar10", root=p, verify=False), CorruptArchiveError,
        r"cifar-10-binary\.tar\.gz is corrupt or partial.*delete it", setup=_gzip_without_trailer),
    Bad("cifar-member-declares-3.2GB",
        lambda p, _: load_dataset("cifar10", root=p, verify=False), CorruptArchiveError,
        r"cifar-10-binary\.tar\.gz: member 'cifar-10-batches-bin/data_batch_1\.bin' declares "
        r"3200000000 bytes", setup=_tar_declaring_huge_member),
    Bad("cifar-stream-expands-past-bound",
        lambda p, a: download.read_tar_members(a, ["cifar-10-batches-bin/test_batch.bin"],
                                                max_bytes=1 << 20),
        CorruptArchiveError, r"cifar-10-binary\.tar\.gz expands to more than 1048576 bytes",
        setup=_tar_bomb),
    Bad("svhn-float-pixels", lambda p, _: load_dataset("svhn", root=p, verify=False),
        CorruptArchiveError,
        r"train_32x32\.mat: X is double of shape \(32, 32, 3, 2\), expected uint8",
        setup=lambda p: _svhn_pair(p, np.full((32, 32, 3, 2), 0.5), np.array([[1], [2]]))),
    Bad("svhn-fractional-labels", lambda p, _: load_dataset("svhn", root=p, verify=False),
        CorruptArchiveError, r"train_32x32\.mat: labels y are float64, not whole numbers",
        setup=lambda p: _svhn_pair(p, np.zeros((32, 32, 3, 2), np.uint8), np.array([[1.5], [2]]))),
    Bad("svhn-declares-too-many-images",
        lambda p, f: download._read_svhn(f, max_images=2), CorruptArchiveError,
        r"train_32x32\.mat: declares 3 images .*\[1, 2\]",
        setup=lambda p: _svhn(p, np.zeros((32, 32, 3, 3), np.uint8), np.array([[1], [2], [3]]))),
    Bad("svhn-no-X", lambda p, _: load_dataset("svhn", root=p, verify=False),
        CorruptArchiveError, r"train_32x32\.mat lacks variable 'X'",
        setup=lambda p: (_svhn_pair(p, np.zeros((32, 32, 3, 2), np.uint8), [[1], [2]]),
                         __import__("scipy.io").io.savemat(p / "train_32x32.mat", {"y": [[1]]}))),
    Bad("tiny-annotation-without-tab",
        lambda p, _: load_dataset("tiny_imagenet", root=p, verify=False), CorruptArchiveError,
        r"tiny-imagenet-200\.zip:tiny-imagenet-200/val/val_annotations\.txt line 2: "
        r"'val_1\.JPEG n01' is not",
        setup=lambda p: _tiny(p, "val_0.JPEG\tn01\t0\nval_1.JPEG n01\n")),
    Bad("tiny-image-600x600",
        lambda p, _: load_dataset("tiny_imagenet", root=p, verify=False), CorruptArchiveError,
        r"tiny-imagenet-200\.zip: .*n01_0\.JPEG is 600x600 pixels, more than 512 per side",
        setup=lambda p: _tiny(p, big=600)),
    Bad("tiny-images-declare-past-bound",
        lambda p, a: download._decode_tiny_imagenet(a, False, max_bytes=1000),
        CorruptArchiveError, r"tiny-imagenet-200\.zip: its images declare \d+ bytes in all, more "
        r"than the 1000-byte bound", setup=_tiny),
    Bad("tiny-annotated-image-missing",
        lambda p, _: load_dataset("tiny_imagenet", root=p, verify=False), CorruptArchiveError,
        r"tiny-imagenet-200\.zip lacks 'tiny-imagenet-200/val/images/val_9\.JPEG'",
        setup=lambda p: _tiny(p, "val_9.JPEG\tn01\n")),
    # --- item 8 (data part): sizes bounded before allocation
    Bad("mnist1d-ten-billion-samples",
        lambda p, _: load_dataset("mnist1d", num_samples=10_000_000_000), ValueError,
        r"num_samples=10000000000: must be a multiple of 10 .* from 20 to 1,000,000"),
    Bad("mnist1d-split-as-text", lambda p, _: load_mnist1d(train_split="0.8"), ValueError,
        r"train_split='0\.8': must lie strictly between 0 and 1"),
    Bad("feature-noise-billion-points", lambda p, _: make_feature_noise(n_train=10 ** 9),
        ValueError, r"n_train=1000000000 with image_size=\(32, 32\).* more than the "
        r"1,073,741,824 allowed"),
    Bad("feature-noise-huge-image", lambda p, _: make_feature_noise(image_size=4 * 10 ** 6,
                                                                    n_train=10),
        ValueError, r"n_train=10 with image_size=\(4000000, 4000000\)"),
    Bad("feature-noise-3-tuple-image", lambda p, _: make_feature_noise(image_size=(32, 32, 3)),
        ValueError, r"image_size=\(32, 32, 3\): must be an integer or a \(height, width\) pair"),
    Bad("feature-noise-std-text", lambda p, _: make_feature_noise(noise_std="1"), ValueError,
        r"noise_std='1': must be a finite number >= 0"),
    Bad("load-dataset-device-gpu", lambda p, _: load_dataset("digits", device="gpu"), ValueError,
        r"unknown device 'gpu'; allowed: 'auto', 'cpu'"),
    Bad("load-dataset-unknown-option", lambda p, _: load_dataset("digits", num_samples=10),
        ValueError, r"unknown option\(s\) 'num_samples' for dataset 'digits'; allowed: "),
    Bad("random-chunks-without-generator", lambda p, _: random_chunks(10, 2, None), ValueError,
        r"generator=None: must be a torch\.Generator"),
    Bad("minibatches-seed-not-generator", lambda p, _: iterate_minibatches(10, 2, 0), ValueError,
        r"generator=0: must be a torch\.Generator"),
    # --- item 10 (non-book part): the discrete engine
    Bad("expected-accuracy-tau-above-K",
        lambda p, d: expected_test_accuracy(np.ones((2, 10), bool), d, tau=11), ValueError,
        r"tau must satisfy 1 <= tau <= K=10, got 11", setup=lambda p: _points()),
    Bad("explain-probability-tau-above-K",
        lambda p, _: bounds.explain_probability(np.full((2, 10), 0.3), np.ones((2, 10), bool), 11),
        ValueError, r"tau must satisfy 1 <= tau <= K=10, got 11"),
    Bad("simulate-gamma-1e30",
        lambda p, d: simulate(d, n_per_exp=20, n_exp=2, gamma=10 ** 30, tau=1), ValueError,
        r"gamma must be an integer in \[1, 2\*\*53\], got 10{30}", setup=lambda p: _points()),
    Bad("simulate-methods-none",
        lambda p, d: simulate(d, n_per_exp=20, n_exp=2, gamma=3, tau=1, methods=None), ValueError,
        r"methods must be a method or a list of them .* got None", setup=lambda p: _points()),
    Bad("binomial-tail-n-1e30", lambda p, _: bounds.binomial_tail(10 ** 30, 0.1, 3), ValueError,
        r"n must be an integer in \[0, 2\*\*53\], got 10{30}"),
    Bad("sample-points-trillion",
        lambda p, _: sample_points(np.full((2, 10), 0.1), 10 ** 12, np.random.default_rng(0)),
        ValueError, r"n_per_class=1000000000000 with C=2, K=10 .*use fewer points"),
    Bad("fig3-config-trillion-points", lambda p, _: Fig3Config(n_per_exp=10 ** 12), ValueError,
        r"n_seeds=10 x n_features=50 x n_exp \* n_per_exp = 25,000,000,000,000,000 draws"),
    Bad("fig3-config-methods-none", lambda p, _: Fig3Config(methods=None), ValueError,
        r"methods must be a method or a list of them .* got None"),
    Bad("trace-gamma-1e30",
        lambda p, d: trace_training_run(d, gamma=10 ** 30, tau=1), ValueError,
        r"gamma must be an integer in \[1, 2\*\*53\], got 10{30}", setup=lambda p: _points()),
    # --- item 10: published tables
    Bad("published-json-string", lambda p, f: load_table(f), ValueError,
        r"t\.json' holds a JSON str, not an object",
        setup=lambda p: _json(p, '"name citation rows"')),
    Bad("published-json-list", lambda p, f: load_table(f), ValueError,
        r"t\.json' holds a JSON list", setup=lambda p: _json(p, "[1, 2]")),
    Bad("published-row-not-object", lambda p, f: load_table(f), ValueError,
        r"t\.json': rows\[1\] must be a JSON object, got 7",
        setup=lambda p: _json(p, '{"name": "x", "citation": "c", "rows": [{"a": 1}, 7]}')),
    Bad("published-not-utf8", lambda p, f: load_table(f), ValueError,
        r"t\.json' is not valid JSON",
        setup=lambda p: (p / "t.json").write_bytes(b"\xff\xfe{") and p / "t.json"),
    Bad("published-missing-file", lambda p, _: load_table(p / "nope.json"), FileNotFoundError,
        r"published table file not found: .*nope\.json"),
    Bad("published-cli-json-string", lambda p, f: cli(published_main, [str(f)]), CliError,
        r"^error: published table .*t\.json' holds a JSON str",
        setup=lambda p: _json(p, '"name citation rows"')),
]


# ------------------------------------------------------------------------------ the CLI and the API
# Small runs: nothing trains in a BAD case (each fails before the work); outputs point inside tmp_path.
import plasticity_sim.cli as _cli  # noqa: E402
from plasticity_sim import protocols as _protocols  # noqa: E402

_SMALL = ["--set", "dataset_kwargs.num_samples=600", "--set", "num_chunks=2", "--set", "max_epochs=1"]


def _run(p: Path, *extra: str, out: str | None = None) -> int:
    return cli(_cli.main, ["run", "chunked", "--preset", "tiny", "--quiet", *_SMALL,
                           "--out", out or str(p / "r.json"), *extra])


def _touch(p: Path, name: str, text: str = "x") -> Path:
    (p / name).parent.mkdir(parents=True, exist_ok=True)
    (p / name).write_text(text)
    return p / name


def _api(**overrides):
    return _protocols.preset_config("tiny", **overrides)


BAD += [
    Bad("cli-out-is-a-folder", lambda p, _: _run(p, out=str(p / "dir")), CliError, r"dir.*is a folder",
        setup=lambda p: (p / "dir").mkdir()),
    Bad("cli-out-on-a-pseudo-filesystem", lambda p, _: _run(p, out="/proc/plasticity_sim/r.json"), CliError,
        r"/proc/plasticity_sim/r\.json' cannot be written"),
    Bad("cli-out-exists-without-overwrite", lambda p, _: _run(p), CliError, r"r\.json.*already exists.*--overwrite",
        setup=lambda p: _touch(p, "r.json")),
    Bad("cli-checkpoint-dir-is-a-file", lambda p, _: _run(p, "--checkpoint-dir", str(p / "ck")), CliError,
        r"--checkpoint-dir .*ck.* is a file", setup=lambda p: _touch(p, "ck")),
    Bad("cli-checkpoint-exists-without-resume", lambda p, _: _run(p, "--checkpoint-dir", str(p / "ck")),
        CliError, r"checkpoint .*checkpoint\.pt.*already exists.*--resume",
        setup=lambda p: _touch(p, "ck/checkpoint.pt")),
    Bad("cli-corrupt-checkpoint-on-resume", lambda p, _: _run(p, "--checkpoint-dir", str(p / "ck"), "--resume"),
        CliError, r"checkpoint .*checkpoint\.pt.* cannot be read",
        setup=lambda p: _touch(p, "ck/checkpoint.pt", "not a zip file")),
    Bad("cli-nan-in-method-params", lambda p, _: _run(p, "--set", "method_params.reset_optimizer=NaN"), CliError,
        r"method_params\.reset_optimizer is not a finite number"),
    Bad("cli-infinite-lr", lambda p, _: _run(p, "--set", "lr=inf"), CliError, r"bad value 'inf' for lr"),
    Bad("cli-huge-model", lambda p, _: _run(p, "--set", "model_kwargs.width=10000000000"), CliError,
        r"model 'mlp' with options .*10000000000"),
    Bad("cli-huge-dataset", lambda p, _: _run(p, "--set", "dataset_kwargs.num_samples=10000000000"), CliError,
        r"num_samples.*10000000000"),
    Bad("cli-unknown-method", lambda p, _: _run(p, "--method", "magic"), CliError, r"unknown method 'magic'"),
    Bad("cli-method-that-this-protocol-cannot-run", lambda p, _: _run(p, "--method", "crelu"), CliError,
        r"method 'crelu' runs only in protocol\(s\) noisy_warm_start, growing_data, not in 'chunked'"),
    Bad("cli-method-for-a-protocol-without-one",
        lambda p, _: cli(_cli.main, ["run", "subsets", "--method", "dash", "--out", str(p / "r.json")]),
        CliError, r"'subsets' takes no --method"),
    Bad("cli-checkpoint-for-a-protocol-that-cannot",
        lambda p, _: cli(_cli.main, ["run", "subsets", "--preset", "tiny", "--out", str(p / "r.json"),
                                     "--checkpoint-dir", str(p / "ck")]),
        CliError, r"'subsets' does not checkpoint"),
    Bad("cli-sweep-duplicate-method",
        lambda p, _: cli(_cli.main, ["sweep", "chunked", "--methods", "dash,warm,dash", "--seeds", "0",
                                     "--out-dir", str(p / "s"), *_SMALL]), CliError, r"--methods lists 'dash'"),
    Bad("cli-sweep-duplicate-seed",
        lambda p, _: cli(_cli.main, ["sweep", "chunked", "--methods", "warm", "--seeds", "1,1",
                                     "--out-dir", str(p / "s"), *_SMALL]), CliError, r"--seeds lists 1"),
    Bad("cli-sweep-set-seed-would-be-replaced",
        lambda p, _: cli(_cli.main, ["sweep", "chunked", "--methods", "warm", "--seeds", "0",
                                     "--out-dir", str(p / "s"), "--set", "seed=7", *_SMALL]),
        CliError, r"--set seed=\.\.\. in a sweep"),
    Bad("cli-sweep-unwritable-out-dir",
        lambda p, _: cli(_cli.main, ["sweep", "chunked", "--methods", "warm", "--seeds", "0",
                                     "--out-dir", "/proc/plasticity_sim_sweep", *_SMALL]),
        CliError, r"/proc/plasticity_sim_sweep.*cannot be written"),
    Bad("cli-negative-seed", lambda p, _: cli(_cli.main, ["sweep", "chunked", "--seeds", "0,-3",
                                                          "--out-dir", str(p / "s")]),
        CliError, r"--seeds '0,-3'.*-3"),
    Bad("api-infinite-lr", lambda p, _: _api(lr=float("inf")), ValueError, r"lr=inf is not a finite number"),
    Bad("api-nan-weight-decay", lambda p, _: _api(weight_decay=float("nan")), ValueError,
        r"weight_decay=nan is not a finite number"),
    Bad("api-infinite-rho", lambda p, _: _api(rho=float("inf")), ValueError, r"rho=inf is not a finite number"),
    Bad("api-results-file-not-ours", lambda p, _: _protocols.load_results(p / "r.json"), ValueError,
        r"r\.json: format is None", setup=lambda p: _touch(p, "r.json", "{}")),
]


# ------------------------------------------- issue #23: launches, locks, loaders, one contract
import json as _jsonlib  # noqa: E402
import shutil as _shutil  # noqa: E402

from plasticity_sim import runs as _runs  # noqa: E402
from plasticity_sim import sweep as _sweep  # noqa: E402

_REPO = Path(__file__).resolve().parent.parent
_SHIPPED = _REPO / "results"
_held: list[int] = []     # lock descriptors held by setups for the rest of the session


def _hold_lock(path: Path) -> Path:
    """Hold ``path``'s flock as another live run would (a second open file: flock conflicts even
    within one process)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _held.append(fd)
    return path


def _small_config(**changes):
    config = _runs.apply_overrides(_protocols.preset_config("tiny"), [a for a in _SMALL if a != "--set"])
    return _runs.config_from_dict(type(config), {**_runs.to_dict(config), **changes})


def _checkpoint(p: Path, *, drop=(), **changes) -> Path:
    """A chunked checkpoint in ``p/ck`` for the config ``_run`` makes (with ``changes``), every key
    present except ``drop``."""
    state = {"config_json": _runs.json_dumps(_runs.to_dict(_small_config(**changes))), "completed": 1,
             "records_json": "[]", "elapsed": 1.0, "model": {}, "optimizer": {}, "initial_state": {},
             "generators": {}}
    return _runs.save_checkpoint(p / "ck" / _runs.CHECKPOINT_NAME, {k: v for k, v in state.items() if k not in drop})


def _copy_shipped(p: Path, pairs) -> Path:
    for src, dst in pairs:
        (p / dst).parent.mkdir(parents=True, exist_ok=True)
        _shutil.copy(_SHIPPED / src, p / dst)
    return p


def _edited(p: Path, src: str, dst: str, edit) -> Path:
    data = _jsonlib.loads((_SHIPPED / src).read_text())
    edit(data)
    (p / dst).parent.mkdir(parents=True, exist_ok=True)
    (p / dst).write_text(_jsonlib.dumps(data))
    return p / dst


_MLP = "dash_cpu/mlp/chunked_tiny_{}_seed{}.json"
_AUG = "dash_cpu/mlp_aug/chunked_tiny_{}_seed{}.json"
_GRID = "hare_tortoise/grid/noisy_warm_start_grid_warm_seed{}.json"
_CONT = "hare_tortoise/continual_full"


def _book():
    sys.path.insert(0, str(_REPO / "tools"))
    try:
        import book
    finally:
        sys.path.pop(0)
    return book


def _toc_case(text: str | None, chapters=()):
    def setup(p: Path):
        if text is not None:
            (p / "_toc.yml").write_text(text)
        for c in chapters:
            _touch(p, c, "{}")
    return setup


from plasticity_sim.continual import remedies as _remedies  # noqa: E402
from plasticity_sim.continual import studies as _cstudies  # noqa: E402
from plasticity_sim.dash import cpu_study as _cpu_study  # noqa: E402
from plasticity_sim.dash import report as _report  # noqa: E402
from plasticity_sim.hare_tortoise import studies as _ht  # noqa: E402

BAD += [
    # --out must be a regular file path, whatever --overwrite says; the path is named
    Bad("cli-out-fifo-even-with-overwrite", lambda p, _: _run(p, "--overwrite", out=str(p / "fifo")), CliError,
        r"--out '.*fifo' exists and is not a regular file", setup=lambda p: os.mkfifo(p / "fifo")),
    Bad("cli-out-dev-null-even-with-overwrite", lambda p, _: _run(p, "--overwrite", out="/dev/null"), CliError,
        r"--out '/dev/null' exists and is not a regular file"),
    Bad("cli-out-folder-even-with-overwrite", lambda p, _: _run(p, "--overwrite", out=str(p / "d")), CliError,
        r"d' is a folder", setup=lambda p: (p / "d").mkdir()),
    Bad("cli-out-empty", lambda p, _: cli(_cli.main, ["run", "chunked", "--quiet", *_SMALL, "--out", ""]),
        CliError, r"--out '' is empty; give a file path"),
    Bad("cli-checkpoint-dir-empty", lambda p, _: _run(p, "--checkpoint-dir", ""), CliError,
        r"--checkpoint-dir '' is empty"),
    Bad("cli-out-under-proc-names-the-path", lambda p, _: _run(p, out="/proc/x/y.json"), CliError,
        r"--out '/proc/x/y\.json' cannot be written: cannot create files in '/proc'"),
    # a second run on the same --out / --checkpoint-dir fails before training (exit 2)
    Bad("cli-out-locked-by-a-running-run", lambda p, _: _run(p), CliError,
        r"--out '.*r\.json' is in use by another running process",
        setup=lambda p: _hold_lock(p / ".r.json.lock")),
    Bad("cli-checkpoint-dir-locked-by-a-running-run", lambda p, _: _run(p, "--checkpoint-dir", str(p / "ck")),
        CliError, r"--checkpoint-dir '.*ck' is in use by another running process",
        setup=lambda p: _hold_lock(p / "ck" / ".lock")),
    # resume: a checkpoint without its records, or of another config, says what to do
    Bad("cli-resume-checkpoint-without-records",
        lambda p, _: _run(p, "--checkpoint-dir", str(p / "ck"), "--resume"), CliError,
        r"checkpoint '.*checkpoint\.pt' has no 'records_json'.*--overwrite",
        setup=lambda p: _checkpoint(p, drop=("records_json",))),
    Bad("cli-resume-with-another-config", lambda p, _: _run(p, "--checkpoint-dir", str(p / "ck"), "--resume"),
        CliError, r"different config \(fields \['lr'\]\); resume with the config that made it.*--overwrite",
        setup=lambda p: _checkpoint(p, lr=0.5)),
    # sweeps: refused up front, named
    Bad("cli-sweep-checkpoint-dir-on-a-protocol-that-cannot",
        lambda p, _: cli(_cli.main, ["sweep", "two_phase", "--methods", "warm", "--seeds", "0", "--quiet",
                                     "--out-dir", str(p / "s"), "--checkpoint-dir", str(p / "ck")]),
        CliError, r"'two_phase' does not checkpoint; run the sweep without --checkpoint-dir"),
    Bad("cli-sweep-slow-regression-without-methods",
        lambda p, _: cli(_cli.main, ["sweep", "slow_regression", "--seeds", "0", "--out-dir", str(p / "s")]),
        CliError, r"sweep slow_regression needs --methods \(its methods: bp, cbp, l2, sp\)"),
    Bad("cli-sweep-out-dir-under-proc",
        lambda p, _: cli(_cli.main, ["sweep", "chunked", "--methods", "warm", "--seeds", "0",
                                     "--out-dir", "/proc/plasticity_sim_sweep2", *_SMALL]),
        CliError, r"/proc/plasticity_sim_sweep2/chunked_tiny_warm_seed0\.json' cannot be written"),
    # sizes and parameters: the bad value is the one named
    Bad("cli-class-incremental-huge-width",
        lambda p, _: cli(_cli.main, ["run", "class_incremental", "--method", "warm", "--set", "width=10000000",
                                     "--out", str(p / "r.json")]),
        CliError, r"model 'mlp' with options .*'width': 10000000.*choose smaller"),
    Bad("cli-slow-regression-huge-hidden",
        lambda p, _: cli(_cli.main, ["run", "slow_regression", "--set", "hidden=100000000",
                                     "--out", str(p / "r.json")]),
        CliError, r"hidden=100000000 is too large.*choose a smaller hidden"),
    Bad("cli-unknown-method-parameter-names-only-it",
        lambda p, _: _run(p, "--method", "dash", "--set", "method_params.bogus=1"), CliError,
        r"unknown parameter\(s\) \['bogus'\] for intervention 'dash'; its parameters: granularity, lam, alpha"),
    # loaders refuse mixtures, duplicates, foreign protocols, damaged fields, records outside the config
    Bad("loader-arm-table-mixed-arms", lambda p, _: _cpu_study.arm_table("mlp", p), ValueError,
        r"chunked_tiny_warm_seed0\.json: config field 'augment_pad' is 4 but .*cold_seed0\.json has 0",
        setup=lambda p: _copy_shipped(p, [(_MLP.format("cold", s), _MLP.format("cold", s).split("/", 1)[1])
                                          for s in (0, 1)]
                                      + [(_AUG.format("warm", s), _MLP.format("warm", s).split("/", 1)[1])
                                         for s in (0, 1)])),
    Bad("loader-ht-same-method-and-seed-other-config", lambda p, _: _ht.load_records(p), ValueError,
        r"config field 'epochs' is .* but .* has .*differ only in method and seed",
        setup=lambda p: (_copy_shipped(p, [(_GRID.format(0), "a.json")]),
                         _edited(p, _GRID.format(0), "b.json", lambda d: d["config"].update(epochs=7)))),
    Bad("loader-ht-duplicate-run", lambda p, _: _ht.load_records(p), ValueError,
        r"b\.json: method and seed .* are also in .*a\.json",
        setup=lambda p: _copy_shipped(p, [(_GRID.format(0), "a.json"), (_GRID.format(0), "b.json")])),
    Bad("loader-ht-foreign-protocol", lambda p, _: _ht.load_records(p), ValueError,
        r"field 'protocol' is 'chunked', expected 'noisy_warm_start'",
        setup=lambda p: _copy_shipped(p, [(_MLP.format("cold", 0), "x.json")])),
    Bad("loader-continual-foreign-protocol", lambda p, _: _ht.load_continual(p), ValueError,
        r"field 'protocol' is 'noisy_warm_start', expected 'growing_data'",
        setup=lambda p: _copy_shipped(p, [(_GRID.format(0), "x.json")])),
    Bad("loader-record-seed-outside-the-config", lambda p, f: _protocols.load_results(f), ValueError,
        r"x\.json: record 0 field 'seed' is 99, which its config does not hold",
        setup=lambda p: _edited(p, _GRID.format(0), "x.json", lambda d: d["records"][0].update(seed=99))),
    Bad("loader-record-seed-damaged", lambda p, f: _protocols.load_results(f), ValueError,
        r"x\.json: record 1 field 'seed' is '0', not an integer",
        setup=lambda p: _edited(p, _GRID.format(0), "x.json", lambda d: d["records"][1].update(seed="0"))),
    Bad("loader-provenance-null", lambda p, _: _report.summarize_results(p), ValueError,
        r"\.json: field 'provenance' is NoneType, not an object",
        setup=lambda p: _edited(p, _MLP.format("cold", 0), "c.json", lambda d: d.update(provenance=None))),
    Bad("loader-summarize-a-non-chunked-folder", lambda p, _: _report.summarize_results(p), ValueError,
        r"field 'protocol' is 'noisy_warm_start', expected 'chunked'",
        setup=lambda p: _copy_shipped(p, [(_GRID.format(0), "x.json")])),
    Bad("loader-regression-of-another-method", lambda p, _: _cstudies.load_regression("bp", p), ValueError,
        r"regression_bp\.json: field 'method' is 'cbp', expected 'bp'",
        setup=lambda p: _copy_shipped(p, [("continual/regression_cbp.json", "regression_bp.json")])),
    Bad("loader-regression-foreign-protocol", lambda p, _: _cstudies.load_regression("bp", p), ValueError,
        r"regression_bp\.json: field 'protocol' is 'chunked', expected 'slow_regression'",
        setup=lambda p: _copy_shipped(p, [(_MLP.format("cold", 0), "regression_bp.json")])),
    Bad("loader-keeping-study-damaged", lambda p, _: _remedies.load_keeping_file("adam", p), ValueError,
        r"keeping_adam\.json: damaged results file \(KeyError: 'runs'\)",
        setup=lambda p: _edited(p, "continual/keeping_adam.json", "keeping_adam.json",
                                lambda d: [a.pop("runs") for a in d["arms"].values()])),
    Bad("loader-frames-foreign-file", lambda p, _: _cstudies.load_frames(p), ValueError,
        r"regression_frames\.json: field 'format' is 'plasticity_sim\.results/1'",
        setup=lambda p: _copy_shipped(p, [(_MLP.format("cold", 0), "regression_frames.json")])),
    # tools/book.py: a table of contents that is missing, malformed, or names no file
    Bad("book-toc-missing", lambda p, _: _book().toc_notebooks(p), Exception, r"_toc\.yml does not exist",
        setup=_toc_case(None)),
    Bad("book-toc-malformed", lambda p, _: _book().toc_notebooks(p), Exception,
        r"_toc\.yml is not valid YAML", setup=_toc_case("root: [unclosed\n  - : :")),
    Bad("book-toc-without-root", lambda p, _: _book().toc_notebooks(p), Exception,
        r"_toc\.yml has no 'root' entry", setup=_toc_case("- just a list\n")),
    Bad("book-toc-entry-names-no-file", lambda p, _: _book().toc_notebooks(p), Exception,
        r"entry 'book/missing' names no file",
        setup=_toc_case("format: jb-book\nroot: intro\nchapters:\n  - file: book/a\n  - file: book/missing\n",
                        ("intro.md", "book/a.ipynb"))),
]


def _rc_and_stderr(main, argv) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, err.getvalue()


def _good_divergence_is_a_run_failure(p: Path):
    rc, err = _rc_and_stderr(_cli.main, ["run", "slow_regression", "--quiet", "--set", "lr=10",
                                         "--set", "steps=4000", "--set", "bin_size=1000",
                                         "--out", str(p / "r.json")])
    assert rc == 1 and err.startswith("run failed: slow_regression: the learners diverged by step")
    assert len(err.strip().splitlines()) == 1 and not (p / "r.json").exists()
    rc, err = _rc_and_stderr(_cli.main, ["run", "noisy_warm_start", "--quiet", "--method", "warm",
                                         "--set", "lr=1e5", "--out", str(p / "n.json")])
    assert rc == 1 and re.fullmatch(r"run failed: non-finite loss \(nan\) in fresh seed 0: epoch \d+, step \d+ "
                                    r"\(batch \d+ of \d+ in the epoch\)\n", err), err


def _good_two_runs_on_one_out(p: Path):
    """Two runs given the same --out at once: the second fails before training, the first's file is
    whole; a second run on the first's --checkpoint-dir fails the same way. Locks go with the run."""
    env = {**os.environ, "PYTHONPATH": str(_REPO)}
    first = subprocess.Popen([sys.executable, "-m", "plasticity_sim", "run", "chunked", "--quiet",
                              "--set", "dataset_kwargs.num_samples=1500", "--set", "num_chunks=3",
                              "--out", str(p / "r.json"), "--checkpoint-dir", str(p / "ck")],
                             env=env, stderr=subprocess.PIPE, text=True)
    try:
        import time
        deadline = time.monotonic() + 120
        while not (p / "ck" / ".lock").exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(CliError, match=r"--out '.*r\.json' is in use by another running process"):
            _run(p)
        with pytest.raises(CliError, match=r"--checkpoint-dir '.*ck' is in use by another running process"):
            _run(p, "--overwrite", "--checkpoint-dir", str(p / "ck"), out=str(p / "other.json"))
    finally:
        _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert _protocols.load_results(p / "r.json")["config"]["num_chunks"] == 3
    assert not (p / ".r.json.lock").exists() and not (p / "ck" / ".lock").exists()
    assert not (p / "other.json").exists()


def _good_exclusive_publish(p: Path):
    """Without --overwrite a results file that appeared during the run is never replaced."""
    (p / "r.json").write_text("theirs")
    with pytest.raises(FileExistsError):
        _runs.write_json_atomic(p / "r.json", {"ours": 1}, exclusive=True)
    assert (p / "r.json").read_text() == "theirs" and [q.name for q in p.iterdir()] == ["r.json"]
    _runs.write_json_atomic(p / "r.json", {"ours": 1})
    assert _jsonlib.loads((p / "r.json").read_text()) == {"ours": 1}


class _RayTaskError(Exception):   # the shape of ray.exceptions.RayTaskError: the text is a traceback
    def __init__(self, cause):
        super().__init__("ray::run_job() (pid=1, ip=127.0.0.1)\nTraceback (most recent call last):\n"
                         "  File ... line 1\n" * 4 + f"{type(cause).__name__}: {cause}")
        self.cause = cause


def _good_ray_failure_is_one_line(p: Path):
    line = _sweep.failure_line(_RayTaskError(ValueError("--out 'x.json' already exists\nmore")))
    assert line == "ValueError: --out 'x.json' already exists"
    assert _sweep.failure_line(FloatingPointError("non-finite loss")) == "FloatingPointError: non-finite loss"


def _good_shipped_studies_still_load(p: Path):
    assert _cpu_study.arm_table("mlp_aug") and _ht.load_records("grid")["files"] == 5
    assert _ht.load_continual("continual_full")["files"] == 20
    assert _cstudies.regression_headline()["n"] >= 2 and _remedies.load_keeping_file("adam")
    assert _report.summarize_results(_SHIPPED / "dash_cpu" / "cnn").methods


def _good_book_toc_lists_every_chapter(p: Path):
    chapters = _book().toc_notebooks()
    on_disk = [q for q in (_REPO / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts]
    assert sorted(chapters) == sorted(on_disk)


GOOD_23 = [
    Good("divergence-is-a-run-failure-exit-1-one-line", _good_divergence_is_a_run_failure),
    Good("two-runs-on-one-out-second-refused-first-whole", _good_two_runs_on_one_out),
    Good("results-published-by-exclusive-create", _good_exclusive_publish),
    Good("ray-job-failure-is-one-line", _good_ray_failure_is_one_line),
    Good("shipped-studies-still-load-through-the-checks", _good_shipped_studies_still_load),
    Good("book-toc-lists-every-chapter", _good_book_toc_lists_every_chapter),
]


def _good_cli_overwrite_and_names(p: Path):
    _touch(p, "old.json", "{}")
    assert _run(p, "--overwrite", out=str(p / "old.json")) == 0
    assert _protocols.load_results(p / "old.json")["config"]["method"] == "warm"
    import os as _os
    here = _os.getcwd()
    try:  # default file name follows the final config, --set included
        _os.chdir(p)
        assert cli(_cli.main, ["run", "chunked", "--preset", "tiny", "--quiet", *_SMALL, "--method", "dash",
                               "--set", "method=warm", "--set", "seed=7"]) == 0
    finally:
        _os.chdir(here)
    # _SMALL's --set changes the preset: the name says so (a digest of the changes), and only that
    (made,) = (p / "results").glob("*.json")
    assert re.fullmatch(r"chunked_tiny-set[0-9a-f]{6}_warm_seed7\.json", made.name), made.name


def _good_cli_sweep_list(p: Path, capsys=None):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli(_cli.main, ["sweep", "chunked", "--methods", "cold,dash", "--seeds", "0,1", "--list",
                               "--out-dir", str(p / "s"), "--checkpoint-dir", str(p / "ck")]) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and all(" run chunked --preset tiny " in line for line in lines)
    assert len({line.split("--out ")[1].split()[0] for line in lines}) == 4  # one file per job
    assert "ck/chunked_tiny_dash_seed1" in lines[-1]                         # preset in checkpoint names
    assert not (p / "s").exists()                                            # --list writes nothing


# The one study runner (issue 23's continual entry points are gone; every study goes through it):
# bad seeds, output folders and job numbers are refused in one line before anything trains.
def _study(p: Path, *argv: str) -> int:
    return cli(_cli.main, ["study", "continual/adam", "--out-dir", str(p / "st"), *argv])


BAD += [
    *[Bad(f"study-seeds-{name}", lambda p, _, s=s: _study(p, "--seeds", s), CliError, rf"bad --seeds {msg}")
      for name, s, msg in (("letter", "a", "'a'"), ("negative", "-1", "'-1': -1 is negative"),
                           ("empty", "", "''"), ("empty-item", "0,,1", "'0,,1'"), ("range", "1-3", "'1-3'"))],
    Bad("study-out-dir-is-a-file", lambda p, _: cli(_cli.main, ["study", "continual/adam", "--out-dir", str(p / "f")]),
        CliError, r"f/keeping_adam\.json", setup=lambda p: (p / "f").write_text("x")),
    Bad("study-out-dir-unwritable", lambda p, _: cli(_cli.main, ["study", "continual/adam", "--out-dir", "/proc/ps_study"]),
        CliError, r"/proc/ps_study"),
    Bad("study-unknown", lambda p, _: cli(_cli.main, ["study", "continual/nope"]), CliError,
        r"unknown study 'continual/nope'; allowed: .*continual/adam"),
    Bad("study-job-out-of-range", lambda p, _: _study(p, "--job", "9"), CliError, r"--job 9 is not a job"),
]


def _good_study_keeps_existing_files(p: Path):
    out = p / "st" / "keeping_adam.json"
    out.parent.mkdir()
    out.write_text("{}")
    assert _study(p, "--quiet") == 0 and out.read_text() == "{}"   # done: kept, nothing trained
    listed = io.StringIO()
    with contextlib.redirect_stdout(listed):
        assert _study(p, "--list") == 0
    assert listed.getvalue() == ""   # nothing left to run, so no command that would fail on the file


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_bad_input(case: Bad, tmp_path):
    ctx = case.setup(tmp_path)
    before = _snapshot(tmp_path)
    with pytest.raises(case.raises) as err:
        case.act(tmp_path, ctx)
    assert type(err.value) is not Exception
    assert re.search(case.names, str(err.value), flags=re.S), \
        f"message does not name the bad value ({case.names!r}): {err.value}"
    assert _snapshot(tmp_path) == before, "something was written or changed"


def test_case_ids_are_unique():
    ids = [c.id for c in BAD] + [c.id for c in GOOD]
    assert len(ids) == len(set(ids))


# ---------------------------------------------------------------------------------- GOOD cases

def _good_fetch(p: Path):
    path, hashes = _get("/ok", p, verify=True)
    assert path.read_bytes() == b"payload" * 100
    assert hashes["md5"] == hashlib.md5(b"payload" * 100).hexdigest()
    assert [q.name for q in path.parent.iterdir()] == ["file.bin"]


def _good_retry(p: Path):
    token = f"/flaky?{p.name}"
    path, _ = _get(token, p, retries=3)
    assert path.read_bytes() == b"payload" * 100 and _hits[token] == 2


def _good_cifar(p: Path):
    _cifar_archive(p, gzip.compress(_tar_bytes(_cifar10_members(2))))
    d = load_dataset("cifar10", root=p, verify=False)
    assert d.num_train == 10 and d.y_test.tolist() == [3, 3]


def _good_tiny_cache(p: Path, damage: str):
    archive = _tiny(p)
    first = load_dataset("tiny_imagenet", root=p, verify=False)
    (cache,) = p.glob("tiny-imagenet-200.*.npz")
    if damage == "missing-keys":           # opens fine, lacks 'wnids': must be rebuilt, not trusted
        with np.load(cache) as f:
            arrays = {k: f[k] for k in f.files if k != "wnids"}
        with open(cache, "wb") as f:
            np.savez(f, **arrays)
    elif damage == "bad-labels":
        with np.load(cache) as f:
            arrays = {k: f[k] for k in f.files}
        arrays["y_train"] = arrays["y_train"] + 5
        with open(cache, "wb") as f:
            np.savez(f, **arrays)
    else:
        cache.write_bytes(b"garbage")
    again = load_dataset("tiny_imagenet", root=p, verify=False)
    assert again.meta["classes"] == ["n01", "n02"] and again.y_train.tolist() == [0, 1]
    assert (again.x_train == first.x_train).all() and archive.exists()
    with np.load(cache) as f:              # the rebuilt cache is whole again
        assert sorted(f.files) == sorted(download._CACHE_KEYS)


_KILLED_WRITER = """
import os, signal, sys
from plasticity_sim.atomic import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_text("half")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _good_sigkill_cleanup(p: Path):
    target = p / "r.json"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(target)], env=env)
    assert proc.returncode == -signal.SIGKILL
    left = [q.name for q in p.iterdir()]
    assert len(left) == 1 and left[0].startswith(".r.json.") and left[0].endswith(".tmp")
    # a temp file of a live writer (this test's parent process) must survive the cleanup
    live = p / f".r.json.{_host_tag()}-{os.getppid()}.abcdefgh.tmp"
    live.write_text("in progress")
    write_bytes(target, "whole")
    assert sorted(q.name for q in p.iterdir()) == sorted([live.name, "r.json"])
    assert target.read_text() == "whole"


def _good_discrete(p: Path):
    d = _points()
    r = simulate(d, n_per_exp=20, n_exp=2, gamma=3, tau=10, methods=["cold", "warm"])
    acc = expected_test_accuracy(r["warm"].features, d, tau=10)
    assert acc.shape == (2,) and ((0.5 <= acc) & (acc <= 1)).all()
    assert bounds.binomial_tail(10, 0.5, 0) == 1.0


def _good_published(p: Path):
    assert cli(published_main, ["dash_table1", "--dataset", "CIFAR-10"]) == 0
    assert load_table("dash_table1").rows


def _good_feature_noise(p: Path):
    d = make_feature_noise(n_train=20, n_test=10, image_size=(16, 32), patch_size=4)
    assert d.x_train.shape == (20, 1, 16, 32)


GOOD: list[Good] = [
    Good("fetch-verified-download", _good_fetch),
    Good("fetch-retries-a-500", _good_retry),
    Good("cifar-whole-archive", _good_cifar),
    Good("tiny-cache-missing-keys-rebuilt", lambda p: _good_tiny_cache(p, "missing-keys")),
    Good("tiny-cache-bad-labels-rebuilt", lambda p: _good_tiny_cache(p, "bad-labels")),
    Good("tiny-cache-garbage-rebuilt", lambda p: _good_tiny_cache(p, "garbage")),
    Good("atomic-sigkill-temp-removed-by-next-write", _good_sigkill_cleanup),
    Good("discrete-tau-equal-K", _good_discrete),
    Good("published-cli-table", _good_published),
    Good("feature-noise-rectangular", _good_feature_noise),
    Good("cli-overwrite-and-file-names-from-the-config", _good_cli_overwrite_and_names),
    Good("cli-sweep-list-one-command-per-job", _good_cli_sweep_list),
    Good("study-keeps-existing-files-and-lists-only-pending-jobs", _good_study_keeps_existing_files),
    *GOOD_23,
]


@pytest.mark.parametrize("case", GOOD, ids=[c.id for c in GOOD])
def test_good_input(case: Good, tmp_path):
    case.check(tmp_path)
