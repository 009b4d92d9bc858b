"""Three distortions at one pixel error (ldm_teach.data.distortions)."""

import pytest
import torch

from ldm_teach.data import equal_mse_distortions


def _mse(a, b):
    return (a - b).pow(2).mean(dim=(1, 2, 3))


def test_equal_mse_while_nothing_is_clipped():
    x = 0.4 * torch.rand(5, 1, 12, 12, generator=torch.Generator().manual_seed(0)) - 0.2
    d = equal_mse_distortions(x, seed=3)
    assert list(d) == ["1-px shift", "noise", "blur"]
    shift = _mse(d["1-px shift"], x)
    assert torch.equal(d["1-px shift"], torch.roll(x, 1, dims=3))
    # the shift of values in [-0.2, 0.2] moves them by at most 0.4; noise and blur at that
    # MSE would need clipping only far out in the tails, so check the MSE where unclipped
    assert torch.allclose(_mse(d["blur"], x), shift, rtol=1e-5)
    assert (_mse(d["noise"], x) <= shift * (1 + 1e-5)).all()


def test_seeded_clipped_and_blank_images_stay_blank():
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    a, b = equal_mse_distortions(x, seed=0), equal_mse_distortions(x, seed=0)
    assert torch.equal(a["noise"], b["noise"])
    assert not torch.equal(a["noise"], equal_mse_distortions(x, seed=1)["noise"])
    assert all(v.abs().max() <= 1 and v.dtype == x.dtype for v in a.values())
    blank = torch.full((1, 1, 8, 8), -1.0)
    assert all(torch.equal(v, blank) for v in equal_mse_distortions(blank).values())


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="x must be"):
        equal_mse_distortions(torch.zeros(1, 8, 8))
    with pytest.raises(ValueError, match="W >= 2"):
        equal_mse_distortions(torch.zeros(1, 1, 8, 1))
    with pytest.raises(ValueError, match="seed"):
        equal_mse_distortions(torch.zeros(1, 1, 8, 8), seed=-1)
