"""Real-dataset loaders on tiny archives built here in the official formats. No network."""

import hashlib
import io
import tarfile
import zipfile

import numpy as np
import pytest
import torch

from plasticity_sim.data import download, load_dataset
from plasticity_sim.data.download import (ChecksumError, CorruptArchiveError, Source, data_dir,
                                          fetch)


def _tar_gz(path, members: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _records(labels, images):
    """CIFAR binary records: label byte(s) then R, G, B planes of 32x32, row-major."""
    labels = np.asarray(labels, np.uint8).reshape(len(images), -1)
    return b"".join(l.tobytes() + im.tobytes() for l, im in zip(labels, images))


@pytest.fixture
def cifar10(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (17, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, 17)
    members = {f"cifar-10-batches-bin/data_batch_{i}.bin": _records(labels[3 * (i - 1):3 * i],
                                                                      imgs[3 * (i - 1):3 * i])
               for i in range(1, 6)}
    members["cifar-10-batches-bin/test_batch.bin"] = _records(labels[15:], imgs[15:])
    members["cifar-10-batches-bin/batches.meta.txt"] = b"airplane\nautomobile\n\n"
    path = _tar_gz(tmp_path / "cifar-10-binary.tar.gz", members)
    return path, imgs, labels


def _use_md5(monkeypatch, name, md5):
    old = download.SOURCES[name]
    monkeypatch.setitem(download.SOURCES, name, tuple(Source(s.filename, s.url, md5=md5) for s in old))


def test_cifar10_parses_binary_records(cifar10):
    path, imgs, labels = cifar10
    d = load_dataset("cifar10", root=path.parent, verify=False)
    assert d.x_train.shape == (15, 3, 32, 32) and d.x_test.shape == (2, 3, 32, 32)
    assert torch.equal(d.x_train, torch.from_numpy(imgs[:15]).float() / 255)
    assert d.y_test.tolist() == labels[15:].tolist() and d.num_classes == 10
    assert d.meta["classes"] == ["airplane", "automobile"]


def test_cifar_record_layout_by_hand(tmp_path):
    record = bytearray(1 + 3072)
    record[0] = 7
    record[1 + 1024 + 2 * 32 + 5] = 255                   # green plane, row 2, column 5
    members = {f"cifar-10-batches-bin/data_batch_{i}.bin": bytes(record) for i in range(1, 6)}
    members["cifar-10-batches-bin/test_batch.bin"] = bytes(record)
    _tar_gz(tmp_path / "cifar-10-binary.tar.gz", members)
    d = load_dataset("cifar10", root=tmp_path, verify=False)
    assert d.y_train.tolist() == [7] * 5
    assert d.x_train[0, 1, 2, 5] == 1.0 and d.x_train[0].sum() == 1.0


def test_checksum_verified_and_recorded(cifar10, monkeypatch):
    path, _, _ = cifar10
    blob = path.read_bytes()
    _use_md5(monkeypatch, "cifar10", hashlib.md5(blob).hexdigest())
    d = load_dataset("cifar10", root=path.parent)
    info = d.meta["files"]["cifar-10-binary.tar.gz"]
    assert info["md5"] == hashlib.md5(blob).hexdigest()
    assert info["sha256"] == hashlib.sha256(blob).hexdigest()


def test_wrong_checksum_names_file_and_both_hashes(cifar10, monkeypatch):
    path, _, _ = cifar10
    _use_md5(monkeypatch, "cifar10", "0" * 32)
    actual = hashlib.md5(path.read_bytes()).hexdigest()
    with pytest.raises(ChecksumError) as e:
        load_dataset("cifar10", root=path.parent)
    msg = str(e.value)
    assert str(path) in msg and "0" * 32 in msg and actual in msg


def test_official_checksum_rejects_a_foreign_file(cifar10):
    path, _, _ = cifar10
    with pytest.raises(ValueError, match="c32a1d4ab5d03f1284b67883e8d87530"):
        load_dataset("cifar10", root=path.parent)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_archive_gives_clear_error(cifar10, damage):
    path, _, _ = cifar10
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2] if damage == "truncate" else b"not a tarball" * 100)
    with pytest.raises(CorruptArchiveError, match="corrupt or partial") as e:
        load_dataset("cifar10", root=path.parent, verify=False)
    assert str(path) in str(e.value)


def test_partial_record_and_missing_member(tmp_path):
    good = bytes(3073)
    members = {f"cifar-10-batches-bin/data_batch_{i}.bin": good for i in range(1, 6)}
    members["cifar-10-batches-bin/test_batch.bin"] = good + bytes(100)
    _tar_gz(tmp_path / "cifar-10-binary.tar.gz", members)
    with pytest.raises(CorruptArchiveError, match="3173 bytes.*3073-byte records"):
        load_dataset("cifar10", root=tmp_path, verify=False)
    del members["cifar-10-batches-bin/test_batch.bin"]
    _tar_gz(tmp_path / "cifar-10-binary.tar.gz", members)
    with pytest.raises(CorruptArchiveError, match="lacks member 'cifar-10-batches-bin/test_batch.bin'"):
        load_dataset("cifar10", root=tmp_path, verify=False)


def test_cifar100_fine_and_coarse_labels(tmp_path):
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, (6, 3, 32, 32), dtype=np.uint8)
    coarse, fine = np.array([0, 19, 3, 4, 5, 6]), np.array([99, 0, 42, 1, 2, 3])
    lab = np.stack([coarse, fine], 1)
    _tar_gz(tmp_path / "cifar-100-binary.tar.gz", {
        "cifar-100-binary/train.bin": _records(lab[:4], imgs[:4]),
        "cifar-100-binary/test.bin": _records(lab[4:], imgs[4:])})
    d = load_dataset("cifar100", root=tmp_path, verify=False)
    assert d.y_train.tolist() == [99, 0, 42, 1] and d.num_classes == 100
    assert torch.equal(d.x_test, torch.from_numpy(imgs[4:]).float() / 255)
    c = load_dataset("cifar100", root=tmp_path, verify=False, label_type="coarse")
    assert c.y_train.tolist() == [0, 19, 3, 4] and c.num_classes == 20
    with pytest.raises(ValueError, match="'fine', 'coarse'"):
        load_dataset("cifar100", root=tmp_path, verify=False, label_type="super")


def test_normalize_option(cifar10):
    path, _, _ = cifar10
    d = load_dataset("cifar10", root=path.parent, verify=False, normalize=True)
    dims = (0, 2, 3)
    assert torch.allclose(d.x_train.mean(dims), torch.zeros(3), atol=1e-5)
    assert torch.allclose(d.x_train.std(dims, correction=0), torch.ones(3), atol=1e-4)
    assert d.meta["normalize"] is True and len(d.meta["train_channel_mean"]) == 3


# --------------------------------------------------------------------------------- cache / fetch

def test_cache_dir_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("PLASTICITY_SIM_DATA", str(tmp_path / "cache"))
    assert data_dir() == tmp_path / "cache"
    assert data_dir(tmp_path / "x") == tmp_path / "x"
    with pytest.raises(FileNotFoundError, match=r"cache/train_32x32\.mat not found.*download=True"):
        load_dataset("svhn")
    monkeypatch.delenv("PLASTICITY_SIM_DATA")
    assert data_dir().parts[-2:] == (".cache", "plasticity_sim")


def test_missing_file_names_path_and_url(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        load_dataset("tiny_imagenet", root=tmp_path)
    assert str(tmp_path / "tiny-imagenet-200.zip") in str(e.value)
    assert "http://cs231n.stanford.edu/tiny-imagenet-200.zip" in str(e.value)


def test_download_is_atomic_and_checked(tmp_path):
    src = tmp_path / "remote.bin"
    src.write_bytes(b"payload" * 1000)
    root = tmp_path / "cache"
    bad = Source("file.bin", src.as_uri(), md5="f" * 32)
    with pytest.raises(ChecksumError, match="f" * 32):
        fetch(bad, root, download=True)
    assert list(root.iterdir()) == []                      # no partial or temporary file left
    good = Source("file.bin", src.as_uri(), md5=hashlib.md5(src.read_bytes()).hexdigest())
    path, hashes = fetch(good, root, download=True)
    assert path.read_bytes() == src.read_bytes() and [p.name for p in root.iterdir()] == ["file.bin"]
    assert hashes["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    sha = Source("file.bin", src.as_uri(), sha256="a" * 64)   # sha256, when known, wins over md5
    with pytest.raises(ChecksumError, match="sha256"):
        fetch(sha, root)


# --------------------------------------------------------------------------------- SVHN

def _svhn_mat(path, n, seed):
    import scipy.io

    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
    y = (np.arange(n) % 10 + 1).reshape(-1, 1)             # 1..10, 10 meaning digit 0
    scipy.io.savemat(path, {"X": X, "y": y})
    return X, y.ravel()


def test_svhn_parses_and_maps_label_10_to_0(tmp_path):
    X, y = _svhn_mat(tmp_path / "train_32x32.mat", 12, 0)
    _svhn_mat(tmp_path / "test_32x32.mat", 3, 1)
    d = load_dataset("svhn", root=tmp_path, verify=False)
    assert d.x_train.shape == (12, 3, 32, 32) and d.num_classes == 10
    assert d.y_train.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]
    # image 4, channel 2 (blue), row 7, column 30 is X[7, 30, 2, 4]
    assert d.x_train[4, 2, 7, 30].item() == pytest.approx(X[7, 30, 2, 4] / 255)


def test_svhn_train_subset(tmp_path):
    _svhn_mat(tmp_path / "train_32x32.mat", 12, 0)
    _svhn_mat(tmp_path / "test_32x32.mat", 3, 1)
    full = load_dataset("svhn", root=tmp_path, verify=False)
    a = load_dataset("svhn", root=tmp_path, verify=False, train_subset=5, seed=4)
    b = load_dataset("svhn", root=tmp_path, verify=False, train_subset=5, seed=4)
    assert a.num_train == 5 and torch.equal(a.x_train, b.x_train) and a.num_test == 3
    rows = {tuple(r.flatten().tolist()) for r in full.x_train}
    picked = [tuple(r.flatten().tolist()) for r in a.x_train]
    assert all(p in rows for p in picked) and len(set(picked)) == 5
    with pytest.raises(ValueError, match=r"train_subset=13.*\[1, 12\]"):
        load_dataset("svhn", root=tmp_path, verify=False, train_subset=13)


def test_svhn_corrupt_mat(tmp_path):
    (tmp_path / "train_32x32.mat").write_bytes(b"MATLAB garbage" * 50)
    _svhn_mat(tmp_path / "test_32x32.mat", 3, 1)
    with pytest.raises(CorruptArchiveError, match="train_32x32.mat is corrupt or partial"):
        load_dataset("svhn", root=tmp_path, verify=False)


# --------------------------------------------------------------------------------- Tiny-ImageNet

def _jpeg(color, mode="RGB", size=8):
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, (size, size), color).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _tiny_zip(path):
    top = "tiny-imagenet-200/"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(top + "wnids.txt", "n02\nn01\n")
        zf.writestr(top + "train/n02/images/n02_0.JPEG", _jpeg((250, 0, 0)))
        zf.writestr(top + "train/n02/images/n02_1.JPEG", _jpeg((0, 250, 0)))
        zf.writestr(top + "train/n02/n02_boxes.txt", "n02_0.JPEG\t0\t0\t7\t7\n")
        zf.writestr(top + "train/n01/images/n01_0.JPEG", _jpeg(128, mode="L"))   # greyscale
        zf.writestr(top + "val/images/val_0.JPEG", _jpeg((0, 0, 250)))
        zf.writestr(top + "val/images/val_1.JPEG", _jpeg((250, 250, 250)))
        zf.writestr(top + "val/val_annotations.txt",
                    "val_0.JPEG\tn01\t0\t0\t7\t7\nval_1.JPEG\tn02\t0\t0\t7\t7\n")
    return path


def test_tiny_imagenet_decodes_labels_and_caches(tmp_path, monkeypatch):
    _tiny_zip(tmp_path / "tiny-imagenet-200.zip")
    d = load_dataset("tiny_imagenet", root=tmp_path, verify=False)
    assert d.x_train.shape == (3, 3, 8, 8) and d.x_test.shape == (2, 3, 8, 8)
    assert d.meta["classes"] == ["n01", "n02"] and d.num_classes == 2
    assert d.y_train.tolist() == [0, 1, 1] and d.y_test.tolist() == [0, 1]   # sorted file order
    mean_rgb = d.x_train.mean((2, 3)) * 255
    assert torch.allclose(mean_rgb[0], torch.full((3,), 128.0), atol=3)       # grey -> 3 equal channels
    assert torch.allclose(mean_rgb[1], torch.tensor([250.0, 0, 0]), atol=6)   # n02_0 is red
    assert torch.allclose(d.x_test[0].mean((1, 2)) * 255, torch.tensor([0.0, 0, 250]), atol=6)
    caches = list(tmp_path.glob("tiny-imagenet-200.*.npz"))
    assert len(caches) == 1 and not list(tmp_path.glob(".*part"))
    # the second load reads the cache instead of decoding again
    monkeypatch.setattr(download, "_decode_tiny_imagenet", lambda *a: pytest.fail("decoded again"))
    again = load_dataset("tiny_imagenet", root=tmp_path, verify=False)
    assert torch.equal(again.x_train, d.x_train) and torch.equal(again.y_test, d.y_test)


def test_tiny_imagenet_corrupt_zip(tmp_path):
    path = _tiny_zip(tmp_path / "tiny-imagenet-200.zip")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CorruptArchiveError, match="tiny-imagenet-200.zip"):
        load_dataset("tiny_imagenet", root=tmp_path, verify=False)
    assert not list(tmp_path.glob("*.npz"))
