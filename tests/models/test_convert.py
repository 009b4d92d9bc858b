"""PredictionConverter: exact conversions between eps, x0 and v predictions."""

import pytest
import torch
from torch import nn

from ldm_teach.diffusion import NoiseSchedule, ScheduleConfig, ddim_sample
from ldm_teach.diffusion.forward import get_v, predict_x0_from_eps
from ldm_teach.models import PredictionConverter

SCHEDULE = NoiseSchedule(
    ScheduleConfig(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
)


class _Eps(nn.Module):
    """A fixed, x_t- and t-dependent 'eps network' with a config attribute."""

    config = "a-config"

    def forward(self, x_t, t, y=None):
        return torch.tanh(x_t) * (1 + t.view(-1, 1, 1, 1) / 1000)


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    x_t = torch.randn(4, 2, 3, 3, generator=g, dtype=torch.float64)
    return x_t, torch.tensor([0, 10, 500, 999])


def test_eps_to_x0_and_v_match_the_formulas():
    x_t, t = _inputs()
    eps = _Eps()(x_t, t)
    x0 = predict_x0_from_eps(x_t, t, eps, SCHEDULE)
    to_x0 = PredictionConverter(_Eps(), SCHEDULE, "epsilon", "sample")
    torch.testing.assert_close(to_x0(x_t, t), x0)
    torch.testing.assert_close(
        PredictionConverter(_Eps(), SCHEDULE, "epsilon", "v_prediction")(x_t, t),
        get_v(x0, eps, t, SCHEDULE),
    )


@pytest.mark.parametrize("middle", ["sample", "v_prediction"])
def test_round_trip_returns_the_original(middle):
    x_t, t = _inputs(1)
    there = PredictionConverter(_Eps(), SCHEDULE, "epsilon", middle)
    back = PredictionConverter(there, SCHEDULE, middle, "epsilon")
    torch.testing.assert_close(back(x_t, t), _Eps()(x_t, t), rtol=1e-9, atol=1e-9)


def test_sampling_the_converted_network_with_its_type_gives_the_same_samples():
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    eps_net = _Eps()
    v_net = PredictionConverter(eps_net, SCHEDULE, "epsilon", "v_prediction")
    a = ddim_sample(
        lambda x, t: eps_net(x, t),
        (2, 1, 4, 4),
        SCHEDULE,
        num_inference_steps=10,
        generator=gen(),
        progress=False,
    )
    b = ddim_sample(
        lambda x, t: v_net(x, t),
        (2, 1, 4, 4),
        SCHEDULE,
        num_inference_steps=10,
        generator=gen(),
        progress=False,
        prediction_type="v_prediction",
    )
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # read with the wrong type, the same network gives different samples
    c = ddim_sample(
        lambda x, t: v_net(x, t),
        (2, 1, 4, 4),
        SCHEDULE,
        num_inference_steps=10,
        generator=gen(),
        progress=False,
    )
    assert (a - c).abs().max() > 0.1


def test_config_is_exposed_and_same_type_is_identity():
    x_t, t = _inputs()
    conv = PredictionConverter(_Eps(), SCHEDULE, "epsilon", "epsilon")
    assert conv.config == "a-config"
    torch.testing.assert_close(conv(x_t, t), _Eps()(x_t, t))


@pytest.mark.parametrize("kw", [{"source": "eps"}, {"target": "x0"}])
def test_unknown_types_are_refused(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        PredictionConverter(_Eps(), SCHEDULE, **kw)


def test_bad_network_or_schedule_is_refused():
    with pytest.raises(TypeError, match="network"):
        PredictionConverter("abc", SCHEDULE)
    with pytest.raises(TypeError, match="NoiseSchedule"):
        PredictionConverter(_Eps(), ScheduleConfig())


def test_eps_source_at_zero_terminal_snr_is_refused():
    zero_snr = NoiseSchedule(ScheduleConfig(rescale_betas_zero_snr=True))
    x_t = torch.randn(2, 1, 2, 2)
    with pytest.raises(ValueError, match="t=999"):
        PredictionConverter(_Eps(), zero_snr, "epsilon", "sample")(x_t, torch.tensor([0, 999]))
    # from v, every conversion is defined there
    v_to_eps = PredictionConverter(_Eps(), zero_snr, "v_prediction", "epsilon")
    assert torch.isfinite(v_to_eps(x_t, torch.tensor([0, 999]))).all()


def test_identity_case_still_checks_t_and_keeps_the_dtype():
    class _F32(nn.Module):
        def forward(self, x_t, t):
            return x_t.float()

    conv = PredictionConverter(_F32(), SCHEDULE, "epsilon", "epsilon")
    with pytest.raises(ValueError, match=r"t must be in \[0, 999\]"):
        conv(torch.zeros(2, 1, 2, 2), torch.tensor([0, 5000]))
    out = conv(torch.zeros(2, 1, 2, 2, dtype=torch.float64), torch.tensor([0, 1]))
    assert out.dtype == torch.float64


@pytest.mark.parametrize("dtype", [torch.uint8, torch.bool, torch.int8])
def test_odd_timestep_dtypes_give_clear_errors_or_work(dtype):
    # uint8/bool t used to be a boolean mask, int8 a raw IndexError
    x_t = torch.randn(2, 2, 3, 3, dtype=torch.float64)
    conv = PredictionConverter(_Eps(), SCHEDULE, "epsilon", "v_prediction")
    t = torch.tensor([1, 3]).to(dtype)
    if dtype == torch.int8:
        torch.testing.assert_close(conv(x_t, t), conv(x_t, t.long()))
    else:
        with pytest.raises(ValueError, match="t must be an integer tensor"):
            conv(x_t, t)
    with pytest.raises(ValueError, match="t must have shape"):
        conv(x_t, torch.tensor(3))
