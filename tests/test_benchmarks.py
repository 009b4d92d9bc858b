"""The benchmark scripts run and refuse bad arguments (their figures are not asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )


def test_ddim_steps_benchmark_prints_one_row_per_setting():
    out = _run(
        "ddim_steps_vs_quality.py",
        "--model",
        "digits-cmp-f8",
        "--per-class",
        "2",
        "--steps",
        "2",
        "3",
    )
    assert out.returncode == 0, out.stderr
    rows = [
        line.split() for line in out.stdout.splitlines() if line.split()[:1] in (["ddim"], ["ddpm"])
    ]
    assert [(r[0], r[1]) for r in rows] == [("ddim", "2"), ("ddim", "3"), ("ddpm", "1000")]
    for r in rows:
        assert r[2].endswith("%") and float(r[3]) >= 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "no-such-model"], "not a checkpoint in"),
        (["--model", "digits-kl-f4"], "not a latent diffusion model"),
        (["--guidance-scale", "nan"], "finite number >= 0"),
        (["--per-class", "1"], "--per-class must be >= 2"),
        (["--steps", "0"], "positive integer"),
        (["--steps", "1001"], "--steps must be in [1, 1000]"),
    ],
)
def test_ddim_steps_benchmark_refuses_bad_arguments(args, message):
    out = _run("ddim_steps_vs_quality.py", *args)
    assert out.returncode == 2
    assert message in out.stderr


def test_text_to_image_benchmark_prints_every_table():
    out = _run(
        "text_to_image.py",
        "--per-caption",
        "1",
        "--steps",
        "2",
        "--attention-captions",
        "3",
        "--edits",
        "2",
    )
    assert out.returncode == 0, out.stderr
    for title in ("caption accuracy", "cross-attention maps of 3 captions", "2 colour swaps"):
        assert title in out.stdout
    assert out.stdout.count("shapes-t2i") >= 4  # the main model and the three arms


@pytest.mark.parametrize(
    "args, message",
    [
        (["--per-caption", "0"], "--per-caption"),
        (["--steps", "0"], "--steps"),
        (["--edits", "0"], "--edits"),
    ],
)
def test_text_to_image_benchmark_refuses_bad_arguments(args, message):
    out = _run("text_to_image.py", *args)
    assert out.returncode == 2 and message in out.stderr


def test_onnx_runtime_benchmark_prints_both_samplers_and_the_gap():
    out = _run("onnx_runtime.py", "--batch", "1", "--steps", "2", "--repeats", "1")
    assert out.returncode == 0, out.stderr
    for text in ("PyTorch", "ONNX Runtime / PyTorch time:", "load average before:", "threads"):
        assert text in out.stdout
    gap = float(out.stdout.split("max |images ONNX Runtime - PyTorch|: ")[1].split()[0])
    assert gap < 1e-4


@pytest.mark.parametrize(
    "args, message", [(["--batch", "0"], "--batch"), (["--steps", "0"], "--steps")]
)
def test_onnx_runtime_benchmark_refuses_bad_arguments(args, message):
    out = _run("onnx_runtime.py", *args)
    assert out.returncode == 2 and message in out.stderr


def test_inference_benchmark_prints_every_setting():
    out = _run(
        "inference.py", "--captions", "1", "--repeats", "1", "--no-compile", "--unet-layout", "none"
    )
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line[:2] in ("ba", "1.", "2.", "9.")]
    assert rows[0].startswith("baseline") and rows[-1].startswith("9. best")
    assert "torch.compile" not in out.stdout and "load average" in out.stdout
    assert "target (>= 3x at <= 1 point lost)" in out.stdout and "quoted" in out.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--captions", "0"], "--captions"),
        (["--captions", "3", "--repeats", "2"], "divisible by --repeats"),
        (["--repeats", "0"], "--repeats"),
    ],
)
def test_inference_benchmark_refuses_bad_arguments(args, message):
    out = _run("inference.py", *args)
    assert out.returncode == 2 and message in out.stderr
