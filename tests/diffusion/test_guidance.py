"""Classifier-free guidance formula (ldm_teach.diffusion.guidance)."""

import pytest
import torch

from ldm_teach.diffusion.guidance import classifier_free_guidance


@pytest.fixture()
def eps_pair():
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 4, 3, 3, generator=g), torch.randn(2, 4, 3, 3, generator=g)


def test_scale_one_is_the_conditional_prediction(eps_pair):
    eps_u, eps_c = eps_pair
    torch.testing.assert_close(classifier_free_guidance(eps_u, eps_c, 1.0), eps_c)


def test_scale_zero_is_the_unconditional_prediction(eps_pair):
    eps_u, eps_c = eps_pair
    torch.testing.assert_close(classifier_free_guidance(eps_u, eps_c, 0.0), eps_u)


def test_formula_and_sign(eps_pair):
    eps_u, eps_c = eps_pair
    w = 7.5
    out = classifier_free_guidance(eps_u, eps_c, w)
    torch.testing.assert_close(out, eps_u + w * (eps_c - eps_u))
    # Ho & Salimans write (1 + w') eps_c - w' eps_u; w' = w - 1 is the same formula
    torch.testing.assert_close(out, (1 + (w - 1)) * eps_c - (w - 1) * eps_u)
    # w > 1 moves past eps_c, away from eps_u, along the same direction
    torch.testing.assert_close(out - eps_c, (w - 1) * (eps_c - eps_u))


def test_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="eps_cond must have eps_uncond's shape"):
        classifier_free_guidance(torch.zeros(1, 4, 3, 3), torch.zeros(2, 4, 3, 3), 2.0)


@pytest.mark.parametrize("w", [float("nan"), float("inf"), -float("inf"), True, "2", None])
def test_guidance_scale_must_be_a_finite_number(eps_pair, w):
    # found by the third bad-input pass: nan gave an all-NaN prediction, inf gave inf
    eps_u, eps_c = eps_pair
    with pytest.raises(ValueError, match="guidance_scale must be a finite number, got"):
        classifier_free_guidance(eps_u, eps_c, w)
    torch.testing.assert_close(classifier_free_guidance(eps_u, eps_c, -1), 2 * eps_u - eps_c)


def test_guidance_rescale_matches_diffusers_rescale_noise_cfg():
    import torch
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import rescale_noise_cfg

    from ldm_teach.diffusion import classifier_free_guidance, rescale_guidance

    g = torch.Generator().manual_seed(0)
    eps_u, eps_c = torch.randn(2, 3, 4, 8, 8, generator=g)
    guided = classifier_free_guidance(eps_u, eps_c, 7.5)
    for phi in (0.0, 0.3, 0.7, 1.0):
        want = rescale_noise_cfg(guided, eps_c, guidance_rescale=phi)
        assert (rescale_guidance(guided, eps_c, phi) - want).abs().max() < 1e-6
    full = rescale_guidance(guided, eps_c, 1.0)  # φ = 1: each sample has cond's std
    assert torch.allclose(full.flatten(1).std(1), eps_c.flatten(1).std(1), rtol=1e-5)


def test_guidance_rescale_refuses_bad_phi_and_shapes():
    import pytest
    import torch

    from ldm_teach.diffusion import rescale_guidance

    x = torch.randn(2, 4, 8, 8)
    for phi in (-0.1, 1.5, float("nan"), True):
        with pytest.raises(ValueError, match="guidance_rescale"):
            rescale_guidance(x, x, phi)
    with pytest.raises(ValueError, match="cond must have"):
        rescale_guidance(x, x[:1], 0.5)


def test_guidance_rescale_leaves_a_constant_prediction_finite():
    import torch

    from ldm_teach.diffusion import rescale_guidance

    zero = torch.zeros(2, 4, 8, 8)
    assert torch.equal(rescale_guidance(zero, torch.randn(2, 4, 8, 8), 0.7), zero)
