"""UNet conditioning: label embedding, FiLM, cross-attention (labels or context tokens),
spatial concatenation, and the levels that receive the condition."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ldm_teach.models import UNet, UNetConfig
from ldm_teach.nn.film import FiLM
from ldm_teach.nn.transformer import SpatialTransformer

BASE = dict(
    in_channels=2,
    out_channels=2,
    base_channels=16,
    channel_mult=(1, 2),
    num_res_blocks=1,
    attention_levels=(),
    num_heads=2,
    norm_groups=8,
)


def _randomised(cfg: UNetConfig) -> UNet:
    """A UNet whose zero-initialised layers are randomised, so conditions show up."""
    torch.manual_seed(0)
    unet = UNet(cfg).eval()
    with torch.no_grad():
        for m in unet.modules():
            if isinstance(m, (FiLM, SpatialTransformer)) or m is unet.conv_out:
                for p in m.parameters():
                    p.normal_(0, 0.2)
    return unet


def _inputs(b=2):
    g = torch.Generator().manual_seed(1)
    return torch.randn(b, 2, 8, 8, generator=g), torch.tensor([10, 500][:b])


def _count(unet, kind):
    return sum(isinstance(m, kind) for m in unet.modules())


@pytest.mark.parametrize("mode", ["embedding", "film", "cross_attention"])
def test_every_mode_makes_the_output_depend_on_the_label(mode):
    unet = _randomised(UNetConfig(**BASE, num_classes=3, class_conditioning=mode))
    x, t = _inputs()
    with torch.no_grad():
        a = unet(x, t, torch.tensor([0, 0]))
        b = unet(x, t, torch.tensor([1, 1]))
        null = unet(x, t, None)
    assert a.shape == x.shape
    assert not torch.allclose(a, b) and not torch.allclose(a, null)


def test_modes_build_the_expected_modules():
    film = UNet(UNetConfig(**BASE, num_classes=3, class_conditioning="film"))
    # one FiLM after every block: 1 down + 1 up(+1) per level, 2 levels, plus the middle
    assert _count(film, FiLM) == 2 * (1 + 2) + 1 and _count(film, SpatialTransformer) == 0
    xattn = UNet(UNetConfig(**BASE, num_classes=3, class_conditioning="cross_attention"))
    assert _count(xattn, SpatialTransformer) == 7 and _count(xattn, FiLM) == 0
    plain = UNet(UNetConfig(**BASE, num_classes=3))
    assert _count(plain, FiLM) == _count(plain, SpatialTransformer) == 0


def test_condition_levels_select_fine_or_coarse_injection():
    fine = UNet(
        UNetConfig(
            **BASE, num_classes=3, class_conditioning="cross_attention", condition_levels=(0,)
        )
    )
    coarse = UNet(
        UNetConfig(
            **BASE, num_classes=3, class_conditioning="cross_attention", condition_levels=(1,)
        )
    )
    assert all(isinstance(c, SpatialTransformer) for c in fine.down_conds[0])
    assert all(isinstance(c, nn.Identity) for c in fine.down_conds[1])
    assert isinstance(fine.mid_cond, nn.Identity)
    assert all(isinstance(c, nn.Identity) for c in coarse.down_conds[0])
    assert isinstance(coarse.mid_cond, SpatialTransformer)  # the middle is the last level
    assert _count(fine, SpatialTransformer) == 3 and _count(coarse, SpatialTransformer) == 4


def test_embedding_only_unet_keeps_its_checkpoint_layout():
    keys = set(UNet(UNetConfig(**BASE, num_classes=3)).state_dict())
    assert not any("conds" in k or "mid_cond" in k for k in keys)
    assert UNetConfig.from_dict(UNetConfig(**BASE).to_dict()) == UNetConfig(**BASE)


def test_context_tokens_drive_cross_attention():
    unet = _randomised(UNetConfig(**BASE, context_dim=6))
    x, t = _inputs()
    g = torch.Generator().manual_seed(2)
    ctx = torch.randn(2, 3, 6, generator=g)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    with torch.no_grad():
        a = unet(x, t, context=ctx)
        masked = unet(x, t, context=ctx, context_mask=mask)
        ctx2 = ctx.clone()
        ctx2[0, 2] += 5.0  # change a token that the mask hides
        masked2 = unet(x, t, context=ctx2, context_mask=mask)
    assert not torch.allclose(a, masked)
    assert torch.allclose(masked, masked2, atol=1e-6)
    with pytest.raises(ValueError, match="pass context"):
        unet(x, t)
    with pytest.raises(ValueError, match=r"context must have shape \(2, M >= 1, 6\)"):
        unet(x, t, context=torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="context_dim=None"):
        UNet(UNetConfig(**BASE))(x, t, context=ctx)


def test_concat_conditioning():
    unet = _randomised(UNetConfig(**BASE, concat_channels=3))
    assert unet.conv_in.in_channels == 5
    x, t = _inputs()
    c1, c2 = torch.zeros(2, 3, 8, 8), torch.ones(2, 3, 8, 8)
    with torch.no_grad():
        assert not torch.allclose(unet(x, t, concat=c1), unet(x, t, concat=c2))
    with pytest.raises(ValueError, match=r"concat must have shape \(2, 3, 8, 8\)"):
        unet(x, t)
    with pytest.raises(ValueError, match="concat_channels=0"):
        UNet(UNetConfig(**BASE))(x, t, concat=c1)


def test_bad_conditioning_configs_fail_at_construction():
    with pytest.raises(ValueError, match="class_conditioning must be one of"):
        UNetConfig(**BASE, num_classes=3, class_conditioning="adain")
    with pytest.raises(ValueError, match="condition_levels"):
        UNetConfig(**BASE, num_classes=3, class_conditioning="film", condition_levels=(2,))
    with pytest.raises(ValueError, match="condition_levels"):
        UNetConfig(**BASE, num_classes=3, class_conditioning="film", condition_levels=())
    with pytest.raises(ValueError, match="needs num_classes"):
        UNetConfig(**BASE, class_conditioning="film")
    with pytest.raises(ValueError, match="concat_channels"):
        UNetConfig(**BASE, concat_channels=-1)
    with pytest.raises(ValueError, match="context_dim"):
        UNetConfig(**BASE, context_dim=0)


def test_conditioning_fields_are_validated():
    with pytest.raises(ValueError, match="distinct int levels"):
        UNetConfig(**BASE, num_classes=3, class_conditioning="film", condition_levels=(0.5,))
    with pytest.raises(ValueError, match="distinct int levels"):
        UNetConfig(**BASE, num_classes=3, class_conditioning="film", condition_levels=(0, 0))
    with pytest.raises(ValueError, match="only applies"):
        UNetConfig(**BASE, num_classes=3, condition_levels=(0,))
    with pytest.raises(ValueError, match="concat_channels must be an int"):
        UNetConfig(**BASE, concat_channels=True)
    with pytest.raises(ValueError, match="context_dim must be an int"):
        UNetConfig(**BASE, context_dim=8.5)
    cfg = UNetConfig(**BASE, num_classes=3, class_conditioning="film", condition_levels=[1])
    assert cfg.condition_levels == (1,)


def test_forward_accepts_int_t_and_rejects_float_labels_and_empty_context():
    unet = UNet(UNetConfig(**BASE, num_classes=3))
    x, _ = _inputs()
    assert unet(x, 5, torch.tensor([0, 1])).shape == x.shape
    with pytest.raises(ValueError, match="integer tensor"):
        unet(x, 5, torch.tensor([0.0, 1.0]))
    ctx_unet = UNet(UNetConfig(**BASE, context_dim=6))
    with pytest.raises(ValueError, match="M >= 1"):
        ctx_unet(x, 5, context=torch.zeros(2, 0, 6))
    with pytest.raises(ValueError, match="without context"):
        UNet(UNetConfig(**BASE))(x, 5, context_mask=torch.ones(2, 1, dtype=torch.bool))
    assert ctx_unet(x, 5, context=torch.zeros(2, 1, 6, dtype=torch.float64)).dtype == x.dtype
