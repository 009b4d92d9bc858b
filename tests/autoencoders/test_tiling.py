"""Tiled VAE decoding (ldm_teach.autoencoders.tiling) on the shipped shapes autoencoder."""

import pytest
import torch

from ldm_teach.autoencoders import AutoencoderKL, AutoencoderKLConfig
from ldm_teach.autoencoders.tiling import largest_decode_activation, tile_starts, tiled_decode
from ldm_teach.data.shapes import ShapesDataset
from ldm_teach.pretrained.text_registry import load_text_to_image


@pytest.fixture(scope="module")
def autoencoder():
    return load_text_to_image("shapes-t2i").autoencoder


def _latents(autoencoder, image_size, n=4):
    x = ShapesDataset(n, size=image_size, seed=0).images
    with torch.no_grad():
        return autoencoder.encode(x).mode()


def test_tile_starts_cover_and_end_at_the_border():
    assert tile_starts(8, 8, 2) == [0]
    assert tile_starts(5, 8, 2) == [0]
    assert tile_starts(16, 8, 2) == [0, 6, 8]
    assert tile_starts(16, 8, 4) == [0, 4, 8]
    assert tile_starts(32, 8, 0) == [0, 8, 16, 24]


def test_one_tile_is_the_full_decode_exactly(autoencoder):
    z = _latents(autoencoder, 32)  # (4, 4, 8, 8): the training size
    with torch.no_grad():
        full = autoencoder.decode(z)
    for blend in (True, False):
        assert torch.equal(tiled_decode(autoencoder, z, 8, 2, blend=blend), full)
        assert torch.equal(tiled_decode(autoencoder, z, 16, 0, blend=blend), full)


def test_weights_sum_to_one_on_a_linear_decoder():
    # A decoder that is a per-pixel function of z (1x1 convolutions, no norm) decodes tiles
    # exactly as the whole: any tiling, blended or cut, must then give the full decode.
    class Pointwise(torch.nn.Module):
        downsample_factor = 2

        def decode(self, z):
            return torch.nn.functional.interpolate(z[:, :3] * 2 + 1, scale_factor=2.0)

    ae = Pointwise()
    z = torch.randn(2, 4, 13, 9, generator=torch.Generator().manual_seed(0))
    full = ae.decode(z)
    for tile, overlap in ((4, 1), (5, 4), (8, 3)):
        for blend in (True, False):
            out = tiled_decode(ae, z, tile, overlap, blend=blend)
            assert out.shape == full.shape
            assert torch.allclose(out, full, atol=1e-6), (tile, overlap, blend)


@pytest.mark.parametrize("image_size", [64, 128])  # latents 2x and 4x the training size
def test_blending_lowers_the_error_to_the_full_decode(autoencoder, image_size):
    z = _latents(autoencoder, image_size)
    with torch.no_grad():
        full = autoencoder.decode(z)
    blended = tiled_decode(autoencoder, z, 8, 4, blend=True)
    cut = tiled_decode(autoencoder, z, 8, 4, blend=False)
    assert blended.shape == cut.shape == full.shape == (4, 3, image_size, image_size)
    err_blend = (blended - full).abs().max().item()
    err_cut = (cut - full).abs().max().item()
    mean_blend = (blended - full).abs().mean().item()
    mean_cut = (cut - full).abs().mean().item()
    print(
        f"{image_size}px: max |Δ| blended {err_blend:.4f}, cut {err_cut:.4f}; "
        f"mean |Δ| blended {mean_blend:.4f}, cut {mean_cut:.4f}"
    )
    assert err_blend < err_cut
    assert mean_blend < mean_cut


def test_largest_activation_is_bounded_by_the_tile(autoencoder):
    z = _latents(autoencoder, 128, n=1)  # 32 x 32 latents
    full = largest_decode_activation(autoencoder, z)
    tiled = largest_decode_activation(autoencoder, z, tile_size=8, overlap=2)
    one_tile = largest_decode_activation(autoencoder, z[..., :8, :8])
    assert tiled == one_tile
    assert full == 16 * one_tile  # the activations scale with the area: (32 / 8)^2


def test_bad_arguments_name_themselves(autoencoder):
    z = torch.zeros(1, 4, 16, 16)
    with pytest.raises(ValueError, match="tile_size"):
        tiled_decode(autoencoder, z, 0, 0)
    with pytest.raises(ValueError, match="tile_size"):
        tiled_decode(autoencoder, z, 8.0, 2)
    with pytest.raises(ValueError, match="overlap"):
        tiled_decode(autoencoder, z, 8, 8)
    with pytest.raises(ValueError, match="overlap"):
        tiled_decode(autoencoder, z, 8, -1)
    with pytest.raises(ValueError, match="blend"):
        tiled_decode(autoencoder, z, 8, 2, blend="yes")
    with pytest.raises(ValueError, match="z must be"):
        tiled_decode(autoencoder, torch.zeros(4, 16, 16), 8, 2)
    with pytest.raises(ValueError, match="size"):
        tile_starts(0, 8, 2)


def test_a_random_autoencoder_decodes_non_square_latents():
    torch.manual_seed(0)
    cfg = AutoencoderKLConfig(
        in_channels=3, base_channels=8, channel_mult=(1, 2), norm_groups=4, latent_channels=4
    )
    ae = AutoencoderKL(cfg).eval()
    z = torch.randn(1, 4, 10, 23)
    out = tiled_decode(ae, z, 8, 3)
    assert out.shape == (1, 3, 20, 46) and torch.isfinite(out).all()
