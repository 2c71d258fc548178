"""plasticity_sim.atomic: all or nothing, world-readable, no temp file left behind."""
from __future__ import annotations

import stat

import pytest

from plasticity_sim.atomic import atomic_path, write_bytes


def test_write_replaces_and_is_readable(tmp_path):
    target = tmp_path / "sub" / "r.json"
    write_bytes(target, "one")
    write_bytes(target, b"two")
    assert target.read_text() == "two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]


def test_error_keeps_old_file_and_removes_temp(tmp_path):
    target = tmp_path / "r.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
