"""The shared argument checks (ldm_teach.argcheck)."""

import math

import numpy as np
import pytest

from ldm_teach.argcheck import (
    check_choice,
    check_int,
    check_probability,
    check_real,
    is_int,
    is_real,
)


def test_is_int_and_is_real_refuse_bools():
    assert is_int(3) and is_int(np.int64(3)) and not is_int(True) and not is_int(3.0)
    assert is_real(3) and is_real(2.5) and is_real(np.float32(1)) and not is_real(False)
    assert not is_real(1j) and not is_real("1")


@pytest.mark.parametrize(
    "value,kw,message",
    [
        (0, {"lo": 1}, "steps must be an int >= 1, got 0"),
        (True, {"lo": 1}, "steps must be an int >= 1, got True"),
        (2.0, {}, "steps must be an int, got 2.0"),
        (1001, {"lo": 1, "hi": 1000}, r"steps must be an int in \[1, 1000\], got 1001"),
        (5, {"hi": 4}, "steps must be an int <= 4, got 5"),
        (0, {"lo": 1, "expected": "a positive int"}, "steps must be a positive int, got 0"),
    ],
)
def test_check_int_names_the_argument(value, kw, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_int(value, "steps", **kw)


def test_check_int_returns_python_ints():
    assert check_int(np.int32(7), "n", lo=0) == 7 and type(check_int(np.int32(7), "n")) is int


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True, "1", None, 1j])
def test_check_real_refuses_non_finite_and_non_numbers(value):
    with pytest.raises(ValueError, match="x must be a finite number, got"):
        check_real(value, "x")


def test_check_real_bounds():
    assert check_real(0, "x", lo=0) == 0.0 and type(check_real(1, "x")) is float
    with pytest.raises(ValueError, match="^x must be a finite number > 0, got 0$"):
        check_real(0, "x", lo=0, lo_open=True)
    with pytest.raises(ValueError, match=r"^x must be a finite number in \(0, 1\], got 0$"):
        check_real(0, "x", lo=0, hi=1, lo_open=True)
    with pytest.raises(ValueError, match=r"^x must be a finite number <= 2, got 3$"):
        check_real(3, "x", hi=2)


def test_check_probability_and_choice():
    assert check_probability(0.25, "p") == 0.25
    with pytest.raises(ValueError, match=r"^p must be a probability in \[0, 1\], got 1.5$"):
        check_probability(1.5, "p")
    assert check_choice("ddim", "sampler", ("ddpm", "ddim")) == "ddim"
    for bad in ("DDIM", ["ddim"], None):
        with pytest.raises(ValueError, match=r"sampler must be one of \('ddpm', 'ddim'\)"):
            check_choice(bad, "sampler", ("ddpm", "ddim"))


def test_check_bool_refuses_truthy_strings():
    from ldm_teach.argcheck import check_bool

    assert check_bool(True, "flag") is True and check_bool(np.bool_(False), "flag") is False
    for bad in ("no", "yes", 1, None):
        with pytest.raises(ValueError, match="flag must be True or False"):
            check_bool(bad, "flag")


def test_flags_refuse_truthy_strings_across_the_package():
    # found by the third bad-input pass: "no" switched these flags on
    import torch

    from ldm_teach.autoencoders.quantizer import VectorQuantizer
    from ldm_teach.diffusion import NoiseSchedule, ScheduleConfig, ddim_sample
    from ldm_teach.metrics import count_flops, latent_stats
    from ldm_teach.training import TrainConfig, train

    schedule = NoiseSchedule(ScheduleConfig(num_train_timesteps=10))
    calls = [
        lambda: VectorQuantizer(8, 2, use_ema="yes"),
        lambda: ddim_sample(
            lambda x, t: x,
            (1, 1, 2, 2),
            schedule,
            num_inference_steps=2,
            set_alpha_to_one="no",
            progress=False,
        ),
        lambda: latent_stats(torch.randn(2, 1, 2, 2), per_channel="no"),
        lambda: count_flops(lambda: torch.ones(1), backward="yes"),
        lambda: train(
            torch.nn.Linear(1, 1),
            lambda m, b, g: m(b[0]).mean(),
            (torch.randn(2, 1),),
            TrainConfig(steps=1, batch_size=1),
            resume="yes",
            progress=False,
        ),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="must be True or False"):
            call()
