"""Resolution-shifted sampling (ldm_teach.pipelines.resolution)."""

import math

import pytest
import torch

from ldm_teach.diffusion import NoiseSchedule, ScheduleConfig
from ldm_teach.diffusion.shift import shifted_schedule
from ldm_teach.pipelines.resolution import (
    pixel_count_snr_scale,
    sample_at_resolution,
    shifted_timesteps,
)


@pytest.fixture(scope="module")
def schedule():
    return NoiseSchedule(
        ScheduleConfig(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    )


def test_pixel_count_scale():
    assert pixel_count_snr_scale(64, 64, 32, 32) == 0.25  # (32 / 64)^2, Hoogeboom Sec. 3.1
    assert pixel_count_snr_scale(32, 64, 32, 32) == 0.5
    assert pixel_count_snr_scale(32, 32, 32, 32) == 1.0
    with pytest.raises(ValueError, match="width"):
        pixel_count_snr_scale(32, 0, 32, 32)
    with pytest.raises(ValueError, match="base_height"):
        pixel_count_snr_scale(32, 32, 3.5, 32)


def test_shifted_timesteps_follow_the_shifted_log_snr(schedule):
    ts = list(range(960, -1, -40))  # 25 "leading" steps
    assert shifted_timesteps(schedule, ts, 1.0) == ts
    shifted = shifted_timesteps(schedule, ts, 0.25)
    assert all(a > b for a, b in zip(shifted, shifted[1:], strict=False))  # strictly descending
    assert len(shifted) <= len(ts)
    # each step maps to the training timestep nearest in log-SNR to λ(t) + log 0.25; targets
    # noisier than λ(T - 1) map to T - 1, and repeats are dropped
    lam = schedule.log_snr(torch.arange(1000))
    target = shifted_schedule(schedule, 0.25).log_snr(torch.tensor(ts))
    nearest = [int((lam - v).abs().argmin()) for v in target]
    assert all(t_new >= t for t, t_new in zip(ts, nearest, strict=True))
    assert shifted == sorted(set(nearest), reverse=True)
    assert nearest[0] == 999 and float(target[0]) < float(lam[999])
    inside = [(v, n) for v, n in zip(target, nearest, strict=True) if float(v) >= float(lam[999])]
    half_step = float((lam[:-1] - lam[1:]).abs().max()) / 2
    assert all(abs(float(lam[n] - v)) <= half_step for v, n in inside)
    # a cleaner schedule (snr_scale > 1) moves the steps the other way
    assert shifted_timesteps(schedule, ts, 4.0)[0] < ts[0]


def test_shifted_timesteps_reject_bad_input(schedule):
    with pytest.raises(ValueError, match="timesteps"):
        shifted_timesteps(schedule, [10, 20], 0.5)
    with pytest.raises(ValueError, match="timesteps"):
        shifted_timesteps(schedule, [1000, 10], 0.5)
    with pytest.raises(ValueError, match="timesteps"):
        shifted_timesteps(schedule, [], 0.5)
    with pytest.raises(ValueError, match="snr_scale"):
        shifted_timesteps(schedule, [10, 5], 0.0)
    with pytest.raises(ValueError, match="snr_scale"):
        shifted_timesteps(schedule, [10, 5], math.inf)


def test_sample_at_resolution(model):
    prompt = "a small red circle at the top left"
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    kw = dict(num_inference_steps=5, guidance_scale=2.0)
    plain = model.sample(prompt, height=32, width=16, generator=gen(), **kw)
    unshifted = sample_at_resolution(
        model, prompt, height=32, width=16, shift=False, generator=gen(), **kw
    )
    assert torch.equal(plain, unshifted)
    shifted = sample_at_resolution(model, prompt, height=32, width=16, generator=gen(), **kw)
    assert shifted.shape == (1, 3, 32, 16)
    assert not torch.equal(shifted, plain)
    # the shifted run is model.sample with the shifted timesteps
    ts = shifted_timesteps(model.schedule, model.timesteps(5), 0.5)
    again = model.sample(prompt, height=32, width=16, timesteps=ts, generator=gen(), **kw)
    assert torch.equal(shifted, again)
    # at the training size the shift is 1: the model's own run
    same = sample_at_resolution(model, prompt, height=16, width=16, generator=gen(), **kw)
    assert torch.equal(same, model.sample(prompt, generator=gen(), **kw))


def test_sample_at_resolution_rejects_what_it_sets(model):
    with pytest.raises(ValueError, match="timesteps"):
        sample_at_resolution(model, "a red circle", height=32, width=32, timesteps=[5, 1])
    with pytest.raises(ValueError, match="height"):
        sample_at_resolution(model, "a red circle", height=33, width=32)
    with pytest.raises(ValueError, match="shift"):
        sample_at_resolution(model, "a red circle", height=32, width=32, shift=1)
