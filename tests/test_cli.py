"""The ldm-teach command: train (tiny), demo, info, and their errors."""

from __future__ import annotations

import json
import time

import pytest

from ldm_teach.cli import main
from ldm_teach.pretrained import available, load_autoencoder

SHIPPED = set(available())
needs_shipped = pytest.mark.skipif(
    not {"digits-kl-f4", "digits-ldm"} <= SHIPPED, reason="shipped weights not present"
)


def test_train_writes_weights_and_a_card_with_the_command(tmp_path, capsys):
    assert (
        main(["train", "digits-kl-f4", "--steps", "2", "--out-dir", str(tmp_path), "--no-progress"])
        == 0
    )
    card = json.loads((tmp_path / "digits-kl-f4.json").read_text())
    assert card["steps"] == 2
    assert card["kind"] == "autoencoder_kl"
    assert card["command"] == (
        f"ldm-teach train digits-kl-f4 --steps 2 --out-dir {tmp_path} --no-progress"
    )
    assert len(card["sha256"]) == 64
    assert {"psnr_db", "ssim"} <= set(card["metrics_test"])
    model = load_autoencoder("digits-kl-f4", weights_dir=tmp_path)
    assert model.config.in_channels == 1
    assert "test PSNR" in capsys.readouterr().out


def test_train_refuses_to_overwrite_without_flag(tmp_path, capsys):
    (tmp_path / "digits-kl-f4.json").write_text("{}")
    t0 = time.perf_counter()
    argv = ["train", "digits-kl-f4", "--steps", "500", "--out-dir", str(tmp_path), "--no-progress"]
    assert main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err
    # refused before training: 500 steps would take minutes
    assert time.perf_counter() - t0 < 30
    assert (tmp_path / "digits-kl-f4.json").read_text() == "{}"
    assert not (tmp_path / "digits-kl-f4.safetensors").exists()


def test_train_unknown_name_fails_clearly(capsys):
    assert main(["train", "imagenet-vae"]) == 2
    assert "unknown name 'imagenet-vae'" in capsys.readouterr().err


def test_demo_rejects_bad_num_samples(tmp_path, capsys):
    assert main(["demo", "--num-samples", "15", "--out", str(tmp_path / "x.png")]) == 2
    assert "multiple of 10" in capsys.readouterr().err


def test_demo_does_not_overwrite_existing_output(tmp_path, capsys):
    out = tmp_path / "grid.png"
    out.write_bytes(b"keep me")
    assert main(["demo", "--out", str(out)]) == 2
    assert out.read_bytes() == b"keep me"
    assert "--overwrite" in capsys.readouterr().err


@needs_shipped
def test_demo_writes_a_png_and_prints_the_accuracy(tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "grid.png"
    assert (
        main(["demo", "--out", str(out), "--num-samples", "20", "--steps", "10", "--no-progress"])
        == 0
    )
    with Image.open(out) as img:
        assert img.width > 0 and img.height > 0
    text = capsys.readouterr().out
    assert "independent classifier accuracy" in text
    # the demo must not switch off autograd for the rest of the process
    import torch

    assert torch.is_grad_enabled()


def test_info_lists_every_registered_checkpoint(capsys):
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    for name in ("digits-kl-f4", "photos-kl-f4", "digits-ldm"):
        assert name in text


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["demo", "--steps", "0"], "--steps"),
        (["demo", "--guidance-scale", "-1"], "--guidance-scale"),
        (["demo", "--guidance-scale", "nan"], "--guidance-scale"),
        (["train", "digits-kl-f4", "--steps", "-3"], "--steps"),
    ],
)
def test_bad_command_line_values_name_the_option(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert fragment in capsys.readouterr().err


@needs_shipped
def test_demo_steps_beyond_training_steps_is_a_one_line_error(tmp_path, capsys):
    assert main(["demo", "--steps", "2000", "--out", str(tmp_path / "g.png"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "num_inference_steps" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "inherited, flags, expected",
    [
        (None, [], "'1'"),
        (None, ["--widgets"], "None"),
        ("1", ["--widgets"], "None"),
        ("0", [], "'1'"),
    ],
)
def test_run_notebooks_stores_static_stepper_figures_unless_widgets(
    tmp_path, monkeypatch, inherited, flags, expected
):
    import os

    import nbformat

    from ldm_teach.viz.steppers import STATIC_ENV

    monkeypatch.setenv(STATIC_ENV, "0")  # so that monkeypatch restores the variable afterwards
    if inherited is None:
        monkeypatch.delenv(STATIC_ENV)
    else:
        monkeypatch.setenv(STATIC_ENV, inherited)
    path = tmp_path / "env.ipynb"
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(f"import os; print(repr(os.environ.get({STATIC_ENV!r})))")]
    )
    nbformat.write(nb, path)
    assert main(["run-notebooks", str(path), *flags]) == 0
    out = nbformat.read(path, as_version=4).cells[0].outputs[0]["text"].strip()
    assert out == expected
    assert os.environ.get(STATIC_ENV) == inherited  # the caller's environment is restored


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    "out_dir, fragment", [("afile", "is a file"), ("afile/sub", "is a file"), ("", "empty string")]
)
def test_train_checks_the_output_folder_before_training(tmp_path, capsys, out_dir, fragment):
    (tmp_path / "afile").write_text("keep")
    argv = [
        "train",
        "digits-kl-f4",
        "--steps",
        "500",
        "--no-progress",
        "--out-dir",
        str(tmp_path / out_dir) if out_dir else "",
    ]
    t0 = time.perf_counter()
    assert main(argv) == 2
    assert time.perf_counter() - t0 < 30  # refused before training: 500 steps take minutes
    assert fragment in _one_line(capsys.readouterr().err)
    assert (tmp_path / "afile").read_text() == "keep"


def test_unwritable_output_folder_is_a_one_line_error_before_training(
    tmp_path, capsys, monkeypatch
):
    from ldm_teach.training import checkpoint as ckpt

    def denied(*args, **kwargs):  # a read-only folder (chmod does not stop root)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(ckpt.tempfile, "mkstemp", denied)
    t0 = time.perf_counter()
    argv = ["train", "digits-kl-f4", "--steps", "500", "--out-dir", str(tmp_path), "--no-progress"]
    assert main(argv) == 2
    assert time.perf_counter() - t0 < 30
    line = _one_line(capsys.readouterr().err)
    assert "cannot write into" in line and str(tmp_path) in line


def test_demo_checks_its_output_before_sampling(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    for out, fragment in (
        (tmp_path, "is a folder"),
        (tmp_path / "afile" / "g.png", "is a file"),
        ("", "empty string"),
        (tmp_path / "grid.txt", "image suffix"),
    ):
        assert main(["demo", "--out", str(out), "--overwrite"]) == 2
        assert fragment in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize("seed", ["-1", str(2**63), "1e23", "100000000000000000000000"])
def test_demo_seed_must_fit_a_64_bit_generator(seed, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--seed", seed])
    assert exc.value.code == 2
    assert "--seed" in capsys.readouterr().err


def test_demo_num_samples_has_a_maximum(tmp_path, capsys):
    t0 = time.perf_counter()
    assert main(["demo", "--num-samples", "1000000000", "--out", str(tmp_path / "g.png")]) == 2
    assert "10 to 1000" in _one_line(capsys.readouterr().err)
    assert time.perf_counter() - t0 < 30


def test_ctrl_c_prints_one_line_and_exits_130(monkeypatch, capsys):
    from ldm_teach import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_info", interrupted)
    assert main(["info"]) == 130
    assert "interrupted" in _one_line(capsys.readouterr().err)


def _tiny_notebook(path):
    import nbformat

    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")]), path)
    return path.read_bytes()


def test_run_notebooks_writes_atomically(tmp_path, monkeypatch, capsys):
    from ldm_teach.training import checkpoint as ckpt

    path = tmp_path / "nb.ipynb"
    before = _tiny_notebook(path)

    def full(src, dst):
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(ckpt.os, "replace", full)
    assert main(["run-notebooks", str(path)]) == 1
    assert "No space left on device" in _one_line(capsys.readouterr().err)
    assert path.read_bytes() == before  # not truncated
    assert [p.name for p in tmp_path.iterdir()] == ["nb.ipynb"]


def test_run_notebooks_checks_every_notebook_before_running_any(tmp_path, capsys):
    first = tmp_path / "a.ipynb"
    before = _tiny_notebook(first)
    assert main(["run-notebooks", str(first), str(tmp_path / "missing.ipynb")]) == 2
    assert "missing.ipynb is not a notebook file" in _one_line(capsys.readouterr().err)
    assert first.read_bytes() == before  # not executed


@needs_shipped
def test_demo_overwrite_keeps_the_old_grid_when_the_write_fails(tmp_path, monkeypatch, capsys):
    from ldm_teach.training import checkpoint as ckpt

    out = tmp_path / "grid.png"
    out.write_bytes(b"the previous grid")

    def full(src, dst):
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(ckpt.os, "replace", full)
    argv = [
        "demo",
        "--out",
        str(out),
        "--overwrite",
        "--num-samples",
        "10",
        "--steps",
        "1",
        "--no-progress",
    ]
    assert main(argv) == 1
    assert "No space left on device" in _one_line(capsys.readouterr().err)
    assert out.read_bytes() == b"the previous grid"
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]


@pytest.mark.parametrize("text", ["{}", "not json", '{"cells": 3}'])
def test_run_notebooks_refuses_a_file_that_is_not_a_notebook_in_one_line(tmp_path, capsys, text):
    first = tmp_path / "a.ipynb"
    before = _tiny_notebook(first)
    bad = tmp_path / "bad.ipynb"
    bad.write_text(text)
    assert main(["run-notebooks", str(first), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{bad} is not a valid notebook" in err
    assert first.read_bytes() == before and bad.read_text() == text  # nothing executed


@pytest.mark.parametrize(
    "argv",
    [
        ["grade", "x.ipynb", "--timeout", "inf"],
        ["grade", "x.ipynb", "--timeout", "1e308"],
        ["grade", ""],
        ["grade", "x.ipynb", "--out", ""],
        ["build-exercises", "--exercises", ""],
        ["build-exercises", "--solutions", ""],
    ],
)
def test_grading_commands_refuse_empty_paths_and_absurd_timeouts(
    tmp_path, monkeypatch, capsys, argv
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "solutions").mkdir()
    (tmp_path / "exercises").mkdir()
    (tmp_path / "exercises" / "mine.ipynb").write_text("{}")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("must name" in err or "finite number" in err)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["exercises", "mine.ipynb", "solutions"]


def test_a_checkpoint_failing_its_checksum_is_one_line_not_a_traceback(tmp_path, capsys):
    # found by the third bad-input pass: ChecksumError escaped main() as a traceback
    import shutil

    from ldm_teach.pretrained.cards import card_path, weights_path

    for path in (weights_path("digits-kl-f4"), card_path("digits-kl-f4")):
        shutil.copy(path, tmp_path / path.name)
    weights = tmp_path / "digits-kl-f4.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8])
    assert (
        main(["train", "digits-ldm", "--steps", "1", "--out-dir", str(tmp_path), "--no-progress"])
        == 1
    )
    err = capsys.readouterr().err
    assert err.startswith("ldm-teach train: ") and "SHA-256" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "digits-ldm.json").exists()


def test_run_notebooks_with_a_failing_cell_is_one_line_and_keeps_the_file(tmp_path, capsys):
    # found by the third bad-input pass: a cell raising gave a CellExecutionError traceback
    import nbformat

    path = tmp_path / "bad.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")]), path)
    before = path.read_bytes()
    assert main(["run-notebooks", str(path)]) == 1
    err = capsys.readouterr().err
    assert "a cell raised ZeroDivisionError" in err and "was not changed" in err
    assert err.count("\n") == 1 and path.read_bytes() == before


def test_info_reports_truncated_weights_as_damaged(tmp_path, monkeypatch, capsys):
    # found by the third bad-input pass: info read only the cards
    import shutil

    import ldm_teach.pretrained as pretrained
    from ldm_teach.pretrained import cards

    for name in ("digits-kl-f4", "digits-ldm"):
        for suffix in (".json", ".safetensors"):
            shutil.copy(cards.WEIGHTS_DIR / f"{name}{suffix}", tmp_path)
    weights = tmp_path / "digits-kl-f4.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8])
    monkeypatch.setattr(cards, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path)
    assert main(["info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("digits-kl-f4") and "damaged" in line for line in lines)
    assert any(line.startswith("digits-ldm") and "MB" in line for line in lines)


def test_info_reports_an_ldm_whose_autoencoder_was_retrained(tmp_path, monkeypatch, capsys):
    # found by the fourth bad-input pass: info said digits-ldm was fine, demo then failed
    import shutil

    import torch

    import ldm_teach.pretrained as pretrained
    from ldm_teach.pretrained import cards, load_card, save_pretrained

    for name in ("digits-kl-f4", "digits-ldm"):
        for suffix in (".json", ".safetensors"):
            shutil.copy(cards.WEIGHTS_DIR / f"{name}{suffix}", tmp_path)
    retrained = load_autoencoder("digits-kl-f4", tmp_path)
    with torch.no_grad():
        next(retrained.parameters()).add_(0.01)
    card = {
        k: v
        for k, v in load_card("digits-kl-f4", tmp_path).items()
        if k not in ("sha256", "card_sha256", "card_format", "name", "dtype")
    }
    save_pretrained(retrained, "digits-kl-f4", card, tmp_path, overwrite=True)
    monkeypatch.setattr(cards, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path)
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any(line.startswith("digits-kl-f4") and "MB" in line for line in lines)
    assert any(line.startswith("digits-ldm") and "damaged" in line for line in lines)
    assert "retrained or replaced" in out


def test_run_notebooks_says_in_one_line_when_the_kernel_dies(tmp_path, capsys):
    # found by the fourth bad-input pass: nbclient's DeadKernelError traceback
    import nbformat

    path = tmp_path / "die.ipynb"
    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os; os._exit(1)")]), path
    )
    before = path.read_bytes()
    assert main(["run-notebooks", str(path)]) == 1
    assert "the kernel died" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_generate_writes_a_png_and_reports_what_the_judge_reads(tmp_path, capsys):
    from ldm_teach.cli import main

    out = tmp_path / "img.png"
    args = ["generate", "a large blue triangle at the bottom right", "--negative-prompt", "red"]
    assert main([*args, "--out", str(out), "--steps", "10"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "the judge reads the first image as: shape" in printed
    assert main([*args, "--out", str(out)]) == 2  # exists: not overwritten silently
    assert main(["generate", "a purple circle", "--out", str(tmp_path / "b.png")]) == 2
    assert "unknown word 'purple'" in capsys.readouterr().err
    assert not (tmp_path / "b.png").exists()
