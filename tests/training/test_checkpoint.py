"""Atomic safetensors checkpoints (ldm_teach.training.checkpoint)."""

import hashlib
import os

import pytest
import torch
from torch import nn

from ldm_teach.training import checkpoint as ckpt
from ldm_teach.training.checkpoint import (
    atomic_write_bytes,
    load_tensors,
    optimizer_from_tensors,
    optimizer_to_tensors,
    save_tensors_atomic,
    sha256_file,
)


def test_atomic_write_bytes_writes_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "sub" / "card.json"  # parent created on demand
    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert os.listdir(target.parent) == ["card.json"]


def test_atomic_write_failure_keeps_old_file_and_cleans_up(tmp_path, monkeypatch):
    target = tmp_path / "card.json"
    target.write_bytes(b"old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new")
    with pytest.raises(OSError, match="disk full"):
        save_tensors_atomic({"a": torch.zeros(2)}, target)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["card.json"]


def test_save_and_load_tensors_round_trip(tmp_path):
    path = tmp_path / "ck" / "checkpoint.safetensors"
    tensors = {
        "w": torch.randn(3, 4),
        "wt": torch.randn(4, 3).t(),  # non-contiguous
        "idx": torch.arange(5),
        "h": torch.randn(2, dtype=torch.float16),
    }
    meta = {"step": 5, "losses": [0.5, 0.25], "nested": {"a": [1, 2]}}
    save_tensors_atomic(tensors, path, meta)
    loaded, loaded_meta = load_tensors(path)
    assert loaded_meta == meta
    assert loaded.keys() == tensors.keys()
    for k, v in tensors.items():
        assert loaded[k].dtype == v.dtype and torch.equal(loaded[k], v)
    assert os.listdir(path.parent) == ["checkpoint.safetensors"]


def test_save_without_metadata_loads_empty_dict(tmp_path):
    save_tensors_atomic({"a": torch.ones(1)}, tmp_path / "x.safetensors")
    assert load_tensors(tmp_path / "x.safetensors")[1] == {}


def test_load_missing_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_tensors(tmp_path / "nope.safetensors")


def test_sha256_file_matches_hashlib(tmp_path):
    data = os.urandom(2_500_000)  # more than one 1 MiB chunk
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha256_file(empty) == hashlib.sha256(b"").hexdigest()


def _model_and_adamw(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    return model, torch.optim.AdamW(
        model.parameters(), lr=1e-2, betas=(0.8, 0.95), weight_decay=0.1
    )


def _step(model, opt, seed):
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(seed))
    opt.zero_grad()
    model(x).pow(2).mean().backward()
    opt.step()


def test_adamw_state_round_trip_through_a_checkpoint_file(tmp_path):
    model, opt = _model_and_adamw()
    for s in range(3):
        _step(model, opt, s)
    tensors, meta = optimizer_to_tensors(opt)
    assert all(k.startswith("optim.") for k in tensors)
    save_tensors_atomic(tensors, tmp_path / "opt.safetensors", {"optimizer": meta})
    loaded, loaded_meta = load_tensors(tmp_path / "opt.safetensors")

    model2, opt2 = _model_and_adamw(seed=1)
    model2.load_state_dict(model.state_dict())
    optimizer_from_tensors(opt2, loaded, loaded_meta["optimizer"])

    sd, sd2 = opt.state_dict(), opt2.state_dict()
    assert sd2["param_groups"][0]["betas"] == pytest.approx(sd["param_groups"][0]["betas"])
    assert sd2["param_groups"][0]["weight_decay"] == sd["param_groups"][0]["weight_decay"]
    assert sd.keys() == sd2.keys() and sd["state"].keys() == sd2["state"].keys()
    for idx, state in sd["state"].items():
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(sd2["state"][idx][key]), torch.as_tensor(value))
    # continuing both gives identical weights
    _step(model, opt, 10)
    _step(model2, opt2, 10)
    for a, b in zip(model.parameters(), model2.parameters(), strict=True):
        assert torch.equal(a, b)


def test_atomic_writes_get_ordinary_file_permissions(tmp_path):
    import os
    import stat

    from ldm_teach.training.checkpoint import atomic_write_bytes

    umask = os.umask(0o022)
    try:
        target = tmp_path / "card.json"
        atomic_write_bytes(target, b"{}")
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
    finally:
        os.umask(umask)


def test_atomic_write_text_keeps_the_old_file_on_a_full_disk(tmp_path, monkeypatch):
    from ldm_teach.training.checkpoint import atomic_write_text

    target = tmp_path / "report.csv"
    atomic_write_text(target, "a,b\r\n1,2\r\n")
    assert target.read_bytes() == b"a,b\r\n1,2\r\n"  # newlines written as given

    def full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt.os, "replace", full)
    with pytest.raises(OSError, match="No space"):
        atomic_write_text(target, "new")
    assert target.read_bytes() == b"a,b\r\n1,2\r\n"
    assert os.listdir(tmp_path) == ["report.csv"]


def _failing_replace_on(call: int, monkeypatch):
    """Make the ``call``-th os.replace in checkpoint.py fail (1-based), as a crash would."""
    real, calls = os.replace, [0]

    def replace(src, dst):
        calls[0] += 1
        if calls[0] == call:
            raise OSError("interrupted")
        real(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", replace)


def test_atomic_targets_rolls_back_the_first_file_when_the_second_rename_fails(
    tmp_path, monkeypatch
):
    a, b = tmp_path / "w.bin", tmp_path / "card.json"
    a.write_bytes(b"old weights")
    b.write_bytes(b"old card")
    _failing_replace_on(2, monkeypatch)
    with pytest.raises(OSError, match="interrupted"), ckpt.atomic_targets(a, b) as (ta, tb):
        with open(ta, "wb") as fh:
            fh.write(b"new weights")
        with open(tb, "wb") as fh:
            fh.write(b"new card")
    assert (a.read_bytes(), b.read_bytes()) == (b"old weights", b"old card")
    assert sorted(os.listdir(tmp_path)) == ["card.json", "w.bin"]  # no temporary, no backup


def test_atomic_targets_writes_all_files_and_removes_new_ones_on_rollback(tmp_path, monkeypatch):
    a, b = tmp_path / "w.bin", tmp_path / "card.json"
    with ckpt.atomic_targets(a, b) as (ta, tb):
        with open(ta, "wb") as fh:
            fh.write(b"w")
        with open(tb, "wb") as fh:
            fh.write(b"c")
    assert (a.read_bytes(), b.read_bytes()) == (b"w", b"c")
    assert sorted(os.listdir(tmp_path)) == ["card.json", "w.bin"]
    a2, b2 = tmp_path / "new.bin", tmp_path / "new.json"  # no previous version
    _failing_replace_on(2, monkeypatch)
    with pytest.raises(OSError), ckpt.atomic_targets(a2, b2) as (ta, tb):
        pass
    assert not a2.exists() and not b2.exists()
    assert sorted(os.listdir(tmp_path)) == ["card.json", "w.bin"]


def test_check_output_dir_refuses_files_empty_names_and_unwritable_folders(tmp_path, monkeypatch):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(NotADirectoryError, match="--out-dir .*afile is a file"):
        ckpt.check_output_dir(afile, what="--out-dir")
    with pytest.raises(NotADirectoryError, match="is a file"):
        ckpt.check_output_dir(afile / "sub", what="--out-dir")
    with pytest.raises(ValueError, match="--out-dir must be a folder name"):
        ckpt.check_output_dir("", what="--out-dir")
    new = tmp_path / "a" / "b"
    assert ckpt.check_output_dir(new) == new and not (tmp_path / "a").exists()  # nothing made
    assert os.listdir(tmp_path) == ["afile"]  # the probe is removed

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(ckpt.tempfile, "mkstemp", denied)
    with pytest.raises(PermissionError, match="out_dir .*cannot write into"):
        ckpt.check_output_dir(tmp_path)


def test_check_output_file_refuses_folders_and_existing_files(tmp_path):
    with pytest.raises(IsADirectoryError, match="--out .* is a folder"):
        ckpt.check_output_file(tmp_path, what="--out")
    target = tmp_path / "grid.png"
    target.write_bytes(b"keep")
    with pytest.raises(FileExistsError, match="--overwrite"):
        ckpt.check_output_file(target, what="--out")
    assert ckpt.check_output_file(target, what="--out", overwrite=True) == target
    with pytest.raises(NotADirectoryError, match="is a file"):
        ckpt.check_output_file(target / "x.png", what="--out")
    with pytest.raises(ValueError, match="--out must be a file name"):
        ckpt.check_output_file(" ", what="--out")


def test_load_of_a_damaged_file_names_the_file(tmp_path):
    garbage = tmp_path / "checkpoint.safetensors"
    garbage.write_bytes(b"garbage")
    with pytest.raises(
        ValueError,
        match=r"checkpoint .*checkpoint\.safetensors is not a "
        r"readable safetensors file",
    ):
        load_tensors(garbage)
    with pytest.raises(ValueError, match="checkpoint path must name"):
        load_tensors("")


def test_resume_from_a_garbage_checkpoint_names_the_file(tmp_path):
    from ldm_teach.training import TrainConfig, train

    (tmp_path / "checkpoint.safetensors").write_bytes(b"garbage")
    data = (torch.randn(8, 2), torch.randn(8, 1))
    with pytest.raises(ValueError, match="checkpoint.safetensors is not a readable"):
        train(
            nn.Linear(2, 1),
            lambda m, b, g: ((m(b[0]) - b[1]) ** 2).mean(),
            data,
            TrainConfig(steps=1, batch_size=2),
            checkpoint_dir=tmp_path,
            resume=True,
            progress=False,
        )
    assert (tmp_path / "checkpoint.safetensors").read_bytes() == b"garbage"


def test_path_arg_refuses_empty_names():
    with pytest.raises(ValueError, match="--out must name a file or folder, got ''"):
        ckpt.path_arg("", "--out")
    with pytest.raises(ValueError, match="--out must name"):
        ckpt.path_arg("  ", "--out")
    assert ckpt.path_arg(".", "--out") == ckpt.Path(".")


def test_atomic_write_follows_a_symlink_and_keeps_the_file_mode(tmp_path):
    real = tmp_path / "real.ipynb"
    real.write_text("old")
    os.chmod(real, 0o640)
    link = tmp_path / "link.ipynb"
    link.symlink_to(real)
    ckpt.atomic_write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"  # the link still points at it
    assert os.stat(real).st_mode & 0o777 == 0o640
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text("1")
    os.chmod(a, 0o600)
    with ckpt.atomic_targets(a, b) as (ta, tb):
        open(ta, "w").write("2")
        open(tb, "w").write("3")
    assert a.read_text() == "2" and os.stat(a).st_mode & 0o777 == 0o600


def test_atomic_write_refuses_a_read_only_file(tmp_path):
    protected = tmp_path / "graded.ipynb"
    protected.write_text("keep")
    os.chmod(protected, 0o444)
    with pytest.raises(PermissionError, match="read-only"):
        ckpt.atomic_write_text(protected, "lost")
    with pytest.raises(PermissionError, match="read-only"):
        with ckpt.atomic_targets(tmp_path / "other", protected):
            pass
    assert protected.read_text() == "keep" and sorted(p.name for p in tmp_path.iterdir()) == [
        "graded.ipynb"
    ]
    with pytest.raises(TypeError, match="atomic_write_bytes"):
        ckpt.atomic_write_text(tmp_path / "x", b"bytes")
