"""Min-SNR-γ weights: closed form, limits, and errors."""

import pytest
import torch

from ldm_teach.diffusion.weighting import min_snr_weight


def test_min_snr_closed_form_for_each_target():
    snr = torch.tensor([0.5, 5.0, 20.0], dtype=torch.float64)
    gamma = 5.0
    capped = torch.tensor([0.5, 5.0, 5.0], dtype=torch.float64)
    assert torch.allclose(min_snr_weight(snr, "epsilon", gamma), capped / snr)
    assert torch.allclose(min_snr_weight(snr, "v_prediction", gamma), capped / (snr + 1))
    assert torch.allclose(min_snr_weight(snr, "sample", gamma), capped)


def test_zero_snr_is_guarded():
    snr = torch.tensor([0.0, 1e-12])
    w = min_snr_weight(snr, "epsilon")
    assert torch.equal(w, torch.ones(2))
    assert torch.equal(min_snr_weight(snr, "v_prediction"), snr / (snr + 1))
    assert torch.isfinite(min_snr_weight(torch.tensor([0.0]), "sample")).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(prediction_type="noise"), "prediction_type"),
        (dict(gamma=0.0), "gamma"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        min_snr_weight(torch.tensor([1.0]), **kwargs)


def test_negative_snr_rejected():
    with pytest.raises(ValueError, match="snr"):
        min_snr_weight(torch.tensor([-1.0]))


def test_min_snr_weight_names_a_number_given_for_a_tensor():
    # found by the third bad-input pass: "'bool' object has no attribute 'any'"
    from ldm_teach.diffusion.weighting import min_snr_weight

    with pytest.raises(ValueError, match="snr must be a torch.Tensor"):
        min_snr_weight(3.0)
