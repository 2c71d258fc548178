"""The DASH paper's real datasets: CIFAR-10, CIFAR-100, SVHN and Tiny-ImageNet, for users with network.

Decoders only: fetching (timeouts, retries, checksums, bounded archive reads) is in
:mod:`plasticity_sim.data.fetch`.

Files come from the official sources into a cache directory (`PLASTICITY_SIM_DATA`, default
`~/.cache/plasticity_sim`), only when asked (`download=True`). Each file is checked against the
checksum its publisher gives: the CIFAR page publishes md5 sums; for SVHN and Tiny-ImageNet the
table holds the md5 sums that torchvision and other loaders have used for years (no publisher
sha256 exists for any of them). The sha256 of every file is computed anyway and recorded in
`meta` for provenance; a table entry with a sha256 is checked against it instead of the md5.
Parsing never uses pickle: CIFAR's *binary* version is fixed-size records read with numpy, SVHN is
MATLAB via scipy, Tiny-ImageNet JPEGs are decoded with Pillow (once, then cached as .npz).
Images come back as float32 in [0, 1], shape (N, 3, H, W); `normalize=True` standardises each
channel with the train set's mean and std.
"""

from __future__ import annotations

import io
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..atomic import atomic_path
from .dataset import Dataset
from .fetch import (MAX_ARCHIVE_BYTES, MAX_IMAGE_SIDE, MAX_IMAGES, MAX_SVHN_IMAGES, ChecksumError,
                    CorruptArchiveError, DownloadError, Source, read_tar_members, data_dir,
                    fetch)
from .transforms import channel_stats

__all__ = ["Source", "SOURCES", "ChecksumError", "CorruptArchiveError", "DownloadError", "data_dir",
           "fetch", "load_cifar10", "load_cifar100", "load_svhn", "load_tiny_imagenet"]


SOURCES: dict[str, tuple[Source, ...]] = {
    # https://www.cs.toronto.edu/~kriz/cifar.html lists these md5 sums for the binary versions.
    "cifar10": (Source("cifar-10-binary.tar.gz",
                       "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                       md5="c32a1d4ab5d03f1284b67883e8d87530"),),
    "cifar100": (Source("cifar-100-binary.tar.gz",
                        "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
                        md5="03b5dce01913d631647c71ecec9e9cb8"),),
    # http://ufldl.stanford.edu/housenumbers/ (format 2, cropped digits); md5 as in torchvision.
    "svhn": (Source("train_32x32.mat", "http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
                    md5="e26dedcc434d2e4c54c9b2d4a06d8373"),
             Source("test_32x32.mat", "http://ufldl.stanford.edu/housenumbers/test_32x32.mat",
                    md5="eb5a983be6a315427106f1b164d9cef3")),
    # CS231n's Tiny-ImageNet-200; md5 as used by common loaders (e.g. avalanche).
    "tiny_imagenet": (Source("tiny-imagenet-200.zip", "http://cs231n.stanford.edu/tiny-imagenet-200.zip",
                             md5="90528d7ca1a48142e341f4ef8d21d0de"),),
}


def _fetch_all(name: str, root, download: bool, verify: bool, progress: bool):
    out = [fetch(s, root, download=download, verify=verify, progress=progress) for s in SOURCES[name]]
    provenance = {p.name: {"url": s.url, **h} for s, (p, h) in zip(SOURCES[name], out)}
    return [p for p, _ in out], provenance


def _finish(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
            y_test: np.ndarray, num_classes: int, do_normalize: bool, meta: dict) -> Dataset:
    """uint8 (N, C, H, W) -> float32 in [0, 1] (optionally per-channel standardised) Dataset."""
    xtr = torch.from_numpy(np.ascontiguousarray(x_train)).float().div_(255.0)
    xte = torch.from_numpy(np.ascontiguousarray(x_test)).float().div_(255.0)
    meta = {**meta, "normalize": do_normalize, "num_train": len(y_train), "num_test": len(y_test)}
    if do_normalize:
        mean, std = channel_stats(xtr)
        meta.update(train_channel_mean=mean.tolist(), train_channel_std=std.tolist())
        shape = (1, -1, 1, 1)
        for x in (xtr, xte):   # in place: these tensors are ours, and CIFAR is 600 MB as float32
            x.sub_(mean.view(shape)).div_(std.view(shape))
    return Dataset(name=name, x_train=xtr, y_train=torch.from_numpy(y_train.astype(np.int64)),
                   x_test=xte, y_test=torch.from_numpy(y_test.astype(np.int64)),
                   num_classes=num_classes, meta=meta)


# ---------------------------------------------------------------------------------------------
# CIFAR (binary version): records of <label byte(s)><3072 pixel bytes: R plane, G, B; row-major>
# ---------------------------------------------------------------------------------------------

def _parse_cifar_records(blob: bytes, where: str, label_bytes: int, label_index: int,
                         num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    rec = label_bytes + 3 * 32 * 32
    if len(blob) == 0 or len(blob) % rec:
        raise CorruptArchiveError(f"{where}: {len(blob)} bytes is not a whole number of "
                                  f"{rec}-byte records (corrupt or partial file)")
    arr = np.frombuffer(blob, dtype=np.uint8).reshape(-1, rec)
    labels = arr[:, label_index].astype(np.int64)
    if labels.max() >= num_classes:
        raise CorruptArchiveError(f"{where}: label {labels.max()} outside 0..{num_classes - 1}")
    return arr[:, label_bytes:].reshape(-1, 3, 32, 32), labels


def _load_cifar(name: str, prefix: str, train_files: list[str], test_files: list[str],
                label_bytes: int, label_index: int, num_classes: int, names_file: str,
                root, download, verify, normalize, progress, extra_meta: dict) -> Dataset:
    (archive,), prov = _fetch_all(name, root, download, verify, progress)
    members = [f"{prefix}/{f}" for f in train_files + test_files]
    blobs = read_tar_members(archive, members, optional=[f"{prefix}/{names_file}"])

    def parse(files):
        parts = [_parse_cifar_records(blobs[f"{prefix}/{f}"], f"{archive}:{f}", label_bytes,
                                      label_index, num_classes) for f in files]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    (xtr, ytr), (xte, yte) = parse(train_files), parse(test_files)
    txt = blobs.get(f"{prefix}/{names_file}", b"")   # class names are a nicety, may be absent
    classes = [c.strip() for c in txt.decode(errors="replace").splitlines() if c.strip()] or None
    meta = {"source": SOURCES[name][0].url, "files": prov, "classes": classes, **extra_meta}
    return _finish(name, xtr, ytr, xte, yte, num_classes, normalize, meta)


def load_cifar10(*, seed: int = 0, root=None, download: bool = False, verify: bool = True,
                 normalize: bool = False, progress: bool = False) -> Dataset:
    """CIFAR-10 from the official binary archive: 50,000 / 10,000 images (3, 32, 32), 10 classes.

    `seed` is unused (the split is the official one).
    Source: Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html (binary version).
    """
    return _load_cifar("cifar10", "cifar-10-batches-bin", [f"data_batch_{i}.bin" for i in range(1, 6)],
                       ["test_batch.bin"], 1, 0, 10, "batches.meta.txt", root, download, verify,
                       normalize, progress, {"seed": seed})


def load_cifar100(*, seed: int = 0, root=None, download: bool = False, verify: bool = True,
                  normalize: bool = False, label_type: str = "fine", progress: bool = False) -> Dataset:
    """CIFAR-100 from the official binary archive: 50,000 / 10,000 images (3, 32, 32).

    `label_type="fine"` (100 classes, the DASH paper's) or `"coarse"` (20 superclasses).
    `seed` is unused.
    Source: Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html (binary version).
    """
    if label_type not in ("fine", "coarse"):
        raise ValueError(f"label_type={label_type!r}: allowed values are 'fine', 'coarse'")
    fine = label_type == "fine"
    return _load_cifar("cifar100", "cifar-100-binary", ["train.bin"], ["test.bin"], 2,
                       1 if fine else 0, 100 if fine else 20,
                       "fine_label_names.txt" if fine else "coarse_label_names.txt",
                       root, download, verify, normalize, progress,
                       {"seed": seed, "label_type": label_type})


# ---------------------------------------------------------------------------------------------
# SVHN (MATLAB files: X (32, 32, 3, N) uint8, y (N, 1) with digit 0 stored as 10)
# ---------------------------------------------------------------------------------------------

def _read_svhn(path: Path, max_images: int = MAX_SVHN_IMAGES) -> tuple[np.ndarray, np.ndarray]:
    import scipy.io

    # The declared shapes and classes come from the variable headers (no data is read), so a file
    # that would not fit, or holds float pixels, is refused before anything is allocated.
    try:
        declared = {name: (shape, cls) for name, shape, cls in scipy.io.whosmat(path)}
    except Exception as e:  # scipy raises several types for a damaged .mat
        raise CorruptArchiveError(f"{path} is corrupt or partial ({type(e).__name__}: {e}); "
                                  "delete it and download again") from e
    if "X" not in declared or "y" not in declared:
        raise CorruptArchiveError(f"{path} lacks variable {'X' if 'X' not in declared else 'y'!r}: "
                                  "not an SVHN .mat file; delete it and download again")
    (xshape, xcls), (yshape, _) = declared["X"], declared["y"]
    if len(xshape) != 4 or tuple(xshape[:3]) != (32, 32, 3) or xcls != "uint8":
        raise CorruptArchiveError(f"{path}: X is {xcls} of shape {tuple(xshape)}, expected uint8 "
                                  "(32, 32, 3, N): not an SVHN .mat file; delete it and download "
                                  "again")
    if not 1 <= xshape[3] <= max_images or math.prod(yshape) != xshape[3]:
        raise CorruptArchiveError(f"{path}: declares {xshape[3]} images and {math.prod(yshape)} "
                                  f"labels, expected the same number in [1, {max_images}]; delete "
                                  "it and download again")
    try:
        mat = scipy.io.loadmat(path, variable_names=["X", "y"])
        x, y = mat["X"], mat["y"].reshape(-1)
    except Exception as e:  # scipy raises several types for a damaged .mat
        raise CorruptArchiveError(f"{path} is corrupt or partial ({type(e).__name__}: {e}); "
                                  "delete it and download again") from e
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y):
        raise CorruptArchiveError(f"{path}: X is {x.dtype} {x.shape}, expected uint8 "
                                  f"(32, 32, 3, {len(y)})")
    if y.dtype.kind not in "iuf" or (y.dtype.kind == "f" and not np.all(y == np.round(y))):
        raise CorruptArchiveError(f"{path}: labels y are {y.dtype}, not whole numbers 1..10")
    y = y.astype(np.int64)
    if len(y) and (y.min() < 1 or y.max() > 10):
        raise CorruptArchiveError(f"{path}: labels outside 1..10 (found {y.min()}..{y.max()})")
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), y % 10   # label 10 means digit 0


def load_svhn(*, seed: int = 0, root=None, download: bool = False, verify: bool = True,
              normalize: bool = False, train_subset: int | None = None,
              progress: bool = False) -> Dataset:
    """SVHN cropped digits: 73,257 train / 26,032 test images (3, 32, 32), labels 0..9.

    The DASH paper trains on a random 50,000-image subset of the train split: pass
    `train_subset=50000` (drawn with `np.random.default_rng(seed)`); None keeps all of it.

    Source: Netzer et al. 2011, http://ufldl.stanford.edu/housenumbers/ ; subset: DASH code.
    """
    (tr_path, te_path), prov = _fetch_all("svhn", root, download, verify, progress)
    xtr, ytr = _read_svhn(tr_path)
    xte, yte = _read_svhn(te_path)
    if train_subset is not None:
        if isinstance(train_subset, bool) or not isinstance(train_subset, int) \
                or not 1 <= train_subset <= len(ytr):
            raise ValueError(f"train_subset={train_subset!r}: must be None or an integer in "
                             f"[1, {len(ytr)}]")
        idx = np.random.default_rng(seed).permutation(len(ytr))[:train_subset]
        xtr, ytr = xtr[idx], ytr[idx]
    meta = {"source": "http://ufldl.stanford.edu/housenumbers/", "files": prov, "seed": seed,
            "train_subset": train_subset}
    return _finish("svhn", xtr, ytr, xte, yte, 10, normalize, meta)


# ---------------------------------------------------------------------------------------------
# Tiny-ImageNet: zip of train/<wnid>/images/*.JPEG and val/images/*.JPEG + val/val_annotations.txt
# ---------------------------------------------------------------------------------------------

def _parse_annotations(text: bytes, where: str) -> list[tuple[str, str]]:
    """(file name, wnid) per line of val_annotations.txt: tab-separated, at least two fields."""
    try:
        lines = text.decode().splitlines()
    except UnicodeDecodeError as e:
        raise CorruptArchiveError(f"{where} is not UTF-8 text ({e}): corrupt archive; delete it "
                                  "and download again") from e
    out = []
    for i, line in enumerate(lines, 1):
        if line.strip():
            fields = line.split("\t")
            if len(fields) < 2 or not fields[0] or not fields[1]:
                raise CorruptArchiveError(f"{where} line {i}: {line[:80]!r} is not "
                                          "'<file>\\t<wnid>...' (tab-separated): corrupt archive; "
                                          "delete it and download again")
            out.append((fields[0], fields[1]))
    return out


def _decode_tiny_imagenet(archive: Path, progress: bool, *, max_bytes: int = MAX_ARCHIVE_BYTES,
                          max_images: int = MAX_IMAGES,
                          max_side: int = MAX_IMAGE_SIDE) -> dict[str, np.ndarray]:
    """Decode the zip's JPEGs. Declared member sizes, image counts and image dimensions are
    bounded before anything is read or allocated, also when the checksum was not verified."""
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - Pillow ships with matplotlib
        raise ImportError("Tiny-ImageNet needs Pillow to decode its JPEGs: pip install pillow") from e
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as e:
        raise CorruptArchiveError(f"{archive} is not a readable zip ({e}); delete it and "
                                  "download again") from e
    with zf:
        names = zf.namelist()
        ann = [n for n in names if n.endswith("val/val_annotations.txt")]
        if not ann:
            raise CorruptArchiveError(f"{archive} lacks val/val_annotations.txt: not Tiny-ImageNet")
        top = ann[0][: -len("val/val_annotations.txt")]          # e.g. "tiny-imagenet-200/"
        train = sorted(n for n in names if n.startswith(top + "train/") and n.endswith(".JPEG")
                       and n.split("/")[-2] == "images")
        wnids = sorted({n[len(top + "train/"):].split("/")[0] for n in train})   # ImageFolder order
        index = {w: i for i, w in enumerate(wnids)}
        ann_info = zf.getinfo(ann[0])
        if ann_info.file_size > max_bytes:
            raise CorruptArchiveError(f"{archive}:{ann[0]} declares {ann_info.file_size} bytes, "
                                      f"more than the {max_bytes}-byte bound (max_bytes): not "
                                      "Tiny-ImageNet; delete it and download again")
        val = []
        for fname, wnid in _parse_annotations(zf.read(ann[0]), f"{archive}:{ann[0]}"):
            if wnid not in index:
                raise CorruptArchiveError(f"{archive}: val image {fname} has unknown class {wnid}")
            val.append((f"{top}val/images/{fname}", index[wnid]))
        jobs = [(n, index[n[len(top + "train/"):].split("/")[0]]) for n in train]
        for items, split in ((jobs, "train"), (val, "val")):
            if not 1 <= len(items) <= max_images:
                raise CorruptArchiveError(f"{archive}: {len(items)} {split} images, expected 1 to "
                                          f"{max_images}: not Tiny-ImageNet")
        present = set(names)
        absent = next((n for n, _ in val if n not in present), None)
        if absent is not None:
            raise CorruptArchiveError(f"{archive} lacks {absent!r} (named in val_annotations.txt): "
                                      "corrupt or partial archive; delete it and download again")
        declared = sum(zf.getinfo(n).file_size for n, _ in jobs + val)
        if declared > max_bytes:
            raise CorruptArchiveError(f"{archive}: its images declare {declared} bytes in all, more "
                                      f"than the {max_bytes}-byte bound (max_bytes): not "
                                      "Tiny-ImageNet; delete it and download again")

        shape = None

        def decode(items, desc):
            nonlocal shape
            xs = None
            for i, (n, _) in enumerate(tqdm(items, desc=desc, disable=not progress)):
                try:
                    img = Image.open(io.BytesIO(zf.read(n)))   # reads the header only
                    w, h = img.size
                    if shape is None:
                        if not (1 <= w <= max_side and 1 <= h <= max_side):
                            raise CorruptArchiveError(
                                f"{archive}: {n} is {w}x{h} pixels, more than {max_side} per side "
                                "(not Tiny-ImageNet); delete it and download again")
                        shape = (h, w)
                    if (h, w) != shape:
                        raise CorruptArchiveError(f"{archive}: images of different sizes in {desc} "
                                                  f"({n} is {w}x{h}, others {shape[1]}x{shape[0]})")
                    arr = np.asarray(img.convert("RGB"), dtype=np.uint8)   # a few are greyscale
                except CorruptArchiveError:
                    raise
                except Exception as e:
                    raise CorruptArchiveError(f"{archive}: cannot decode {n} ({e})") from e
                if xs is None:   # one allocation of the known, bounded size
                    xs = np.empty((len(items), *shape, 3), np.uint8)
                xs[i] = arr
            return xs.transpose(0, 3, 1, 2), np.array([c for _, c in items], np.int64)

        try:
            xtr, ytr = decode(jobs, "train")
            xte, yte = decode(val, "val")
        except (zipfile.BadZipFile, zlib.error, KeyError, EOFError) as e:
            raise CorruptArchiveError(f"{archive} is corrupt or partial ({e})") from e
    return {"x_train": xtr, "y_train": ytr, "x_test": xte, "y_test": yte,
            "wnids": np.array(wnids, dtype=np.str_)}


_CACHE_KEYS = ("x_train", "y_train", "x_test", "y_test", "wnids")


def _read_tiny_cache(cache: Path, max_bytes: int = 4 * MAX_ARCHIVE_BYTES) -> dict | None:
    """The decoded arrays if `cache` holds exactly what `_decode_tiny_imagenet` writes, else None.

    Never trusted because it opens: keys, dtypes, shapes and label ranges are checked, and its
    declared member sizes are bounded before anything is loaded.
    """
    try:
        with zipfile.ZipFile(cache) as zf:
            if sum(i.file_size for i in zf.infolist()) > max_bytes:
                return None
        with np.load(cache, allow_pickle=False) as f:
            if sorted(f.files) != sorted(_CACHE_KEYS):
                return None
            a = {k: f[k] for k in _CACHE_KEYS}
    except Exception:  # unreadable: rebuilt, never trusted
        return None
    xtr, xte, ytr, yte, wnids = a["x_train"], a["x_test"], a["y_train"], a["y_test"], a["wnids"]
    ok = (xtr.dtype == np.uint8 and xte.dtype == np.uint8 and xtr.ndim == 4 and xte.ndim == 4
          and xtr.shape[1] == 3 and xtr.shape[1:] == xte.shape[1:]
          and ytr.dtype == np.int64 and yte.dtype == np.int64 and ytr.ndim == 1 and yte.ndim == 1
          and len(ytr) == len(xtr) >= 1 and len(yte) == len(xte) >= 1
          and wnids.dtype.kind == "U" and wnids.ndim == 1 and len(wnids) >= 1)
    if not ok or min(ytr.min(), yte.min()) < 0 or max(ytr.max(), yte.max()) >= len(wnids):
        return None
    return a


def load_tiny_imagenet(*, seed: int = 0, root=None, download: bool = False, verify: bool = True,
                       normalize: bool = False, progress: bool = False) -> Dataset:
    """Tiny-ImageNet-200: 100,000 train / 10,000 test (the official val set) images (3, 64, 64).

    Classes are the sorted wnids (torchvision ImageFolder's order, as the DASH code uses after its
    val-folder preprocessing). The JPEGs are decoded once (about a minute) into
    `<cache>/tiny-imagenet-200.<md5>.npz` (written atomically, loaded without pickle). As float32
    the train set takes about 4.9 GB. `seed` is unused.

    Source: CS231n Tiny-ImageNet-200, http://cs231n.stanford.edu/tiny-imagenet-200.zip
    """
    (archive,), prov = _fetch_all("tiny_imagenet", root, download, verify, progress)
    cache = archive.with_name(f"tiny-imagenet-200.{prov[archive.name]['md5']}.npz")
    arrays = _read_tiny_cache(cache) if cache.exists() else None   # a bad cache is rebuilt
    if arrays is None:
        arrays = _decode_tiny_imagenet(archive, progress)
        with atomic_path(cache, suffix=".part") as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)
    meta = {"source": SOURCES["tiny_imagenet"][0].url, "files": prov, "seed": seed,
            "classes": arrays["wnids"].tolist(), "decoded_cache": str(cache)}
    return _finish("tiny_imagenet", arrays["x_train"], arrays["y_train"], arrays["x_test"],
                   arrays["y_test"], len(arrays["wnids"]), normalize, meta)
