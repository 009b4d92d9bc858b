"""Device choice and seeding (ldm_teach.device)."""

import random

import numpy as np
import pytest
import torch

from ldm_teach.device import default_device, seed_everything


@pytest.fixture
def no_accelerators(monkeypatch):
    monkeypatch.delenv("LDM_TEACH_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_cpu_when_nothing_else(no_accelerators):
    assert default_device() == torch.device("cpu")
    assert default_device("cpu") == torch.device("cpu")


def test_cuda_first_then_mps(no_accelerators, monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert default_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_device() == torch.device("cuda")


def test_environment_variable_overrides_automatic_choice(no_accelerators, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LDM_TEACH_DEVICE", "cpu")
    assert default_device() == torch.device("cpu")
    assert default_device("cuda") == torch.device("cuda")  # an explicit prefer wins


@pytest.mark.parametrize("prefer", ["cuda", "mps"])
def test_unavailable_preference_raises(no_accelerators, prefer):
    with pytest.raises(ValueError, match=prefer):
        default_device(prefer)


def test_unknown_device_raises(no_accelerators, monkeypatch):
    with pytest.raises(ValueError, match="tpu"):
        default_device("tpu")
    monkeypatch.setenv("LDM_TEACH_DEVICE", "gpu")
    with pytest.raises(ValueError, match="gpu"):
        default_device()


def test_seed_everything_makes_runs_repeat():
    def draw():
        gen = seed_everything(123)
        return (
            random.random(),
            float(np.random.rand()),
            torch.rand(3),
            torch.rand(3, generator=gen),
        )

    a, b = draw(), draw()
    assert a[0] == b[0] and a[1] == b[1]
    assert torch.equal(a[2], b[2]) and torch.equal(a[3], b[3])
    assert seed_everything(5).initial_seed() == 5


def test_seed_everything_accepts_large_seeds():
    gen = seed_everything(2**40 + 3)  # NumPy gets seed % 2**32
    assert gen.initial_seed() == 2**40 + 3


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_seed_everything_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed"):
        seed_everything(seed)
