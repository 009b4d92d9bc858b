"""The anatomy table (ldm_teach.metrics.anatomy): parameters by block and level, FLOPs on
meta, weight memory; on the published Stable Diffusion networks and the course's own."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ldm_teach.autoencoders import AutoencoderKL, AutoencoderKLConfig
from ldm_teach.interop import build_reference, reference_evaluations
from ldm_teach.metrics import (
    BLOCK_TYPES,
    anatomy_row,
    anatomy_rows,
    count_parameters,
    flops_by_operator,
    forward_flops,
    memory_bytes,
    parameters_by_block,
    parameters_by_level,
)
from ldm_teach.models import UNet, UNetConfig
from ldm_teach.nn import ResnetBlock, SpatialTransformer
from ldm_teach.text import TextEncoder, TextEncoderConfig


def _n(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _sum_of(net: nn.Module, keep) -> int:
    """Parameters of the outermost submodules for which keep(name, module) holds."""
    total, taken = 0, []
    for name, m in net.named_modules():
        if keep(name, m) and not any(name.startswith(t + ".") for t in taken):
            total += _n(m)
            taken.append(name)
    return total


@pytest.fixture(scope="module")
def sd15_unet():
    return build_reference("sd-1.5", "unet")


@pytest.fixture(scope="module")
def course_unet():
    torch.manual_seed(0)
    cfg = UNetConfig(base_channels=32, channel_mult=(1, 2), norm_groups=8, context_dim=16)
    return UNet(cfg)


def test_sd15_unet_by_block_sums_to_the_total_and_has_the_16_cross_attentions(sd15_unet):
    blocks = parameters_by_block(sd15_unet)
    assert tuple(blocks) == BLOCK_TYPES
    assert sum(blocks.values()) == count_parameters(sd15_unet) == 859_520_964
    assert blocks["cross-attention"] == 43_962_560
    assert blocks["cross-attention"] == _sum_of(sd15_unet, lambda n, m: n.endswith("attn2"))
    assert blocks["self-attention"] == _sum_of(sd15_unet, lambda n, m: n.endswith("attn1"))
    assert blocks["feed-forward"] == _sum_of(sd15_unet, lambda n, m: n.endswith(".ff"))
    assert blocks["ResNet"] == _sum_of(sd15_unet, lambda n, m: ".resnets." in n)
    assert blocks["time embedding"] == _n(sd15_unet.time_embedding)
    assert blocks["embeddings"] == blocks["other"] == 0
    assert blocks["conv in/out"] == _n(sd15_unet.conv_in) + _n(sd15_unet.conv_norm_out) + _n(
        sd15_unet.conv_out
    )


def test_sd15_unet_by_level(sd15_unet):
    levels = parameters_by_level(sd15_unet)
    assert list(levels) == [*(f"down.{i}" for i in range(4)), "mid"] + [
        *(f"up.{i}" for i in range(4)),
        "in/out",
    ]
    assert sum(levels.values()) == 859_520_964
    assert levels["mid"] == _n(sd15_unet.mid_block)
    assert levels["up.1"] == _n(sd15_unet.up_blocks[1])


def test_vae_and_text_encoders_by_block():
    vae = build_reference("sd-1.5", "vae")
    blocks = parameters_by_block(vae)
    assert sum(blocks.values()) == 83_653_863
    assert blocks["cross-attention"] == blocks["feed-forward"] == 0
    assert blocks["self-attention"] == _n(vae.encoder.mid_block.attentions) + _n(
        vae.decoder.mid_block.attentions
    )
    assert blocks["conv in/out"] == sum(
        _n(m)
        for m in (vae.encoder.conv_in, vae.encoder.conv_norm_out, vae.encoder.conv_out)
        + (vae.decoder.conv_in, vae.decoder.conv_norm_out, vae.decoder.conv_out)
        + (vae.quant_conv, vae.post_quant_conv)
    )
    clip = build_reference("sdxl", "text_encoder_2")
    blocks = parameters_by_block(clip)
    assert sum(blocks.values()) == 694_659_840
    assert blocks["embeddings"] == (49408 + 77) * 1280
    assert blocks["self-attention"] == 32 * 4 * (1280 * 1280 + 1280)
    assert blocks["feed-forward"] == 32 * (2 * 1280 * 5120 + 5120 + 1280)
    # 2 LayerNorms per layer, the final LayerNorm, the 1280 x 1280 projection (no bias)
    assert blocks["norm + proj"] == 32 * 2 * 2 * 1280 + 2 * 1280 + 1280 * 1280


def test_the_course_unet_same_code(course_unet):
    blocks = parameters_by_block(course_unet)
    assert sum(blocks.values()) == count_parameters(course_unet) == _n(course_unet)
    assert blocks["ResNet"] == _sum_of(course_unet, lambda n, m: isinstance(m, ResnetBlock))
    assert blocks["cross-attention"] == _sum_of(course_unet, lambda n, m: n.endswith("attn2"))
    assert blocks["cross-attention"] > 0 and blocks["self-attention"] > 0
    assert blocks["time embedding"] == _n(course_unet.time_embed)
    # a spatial transformer is attn1 + attn2 + feed-forward + its norms and projections
    transformers = _sum_of(course_unet, lambda n, m: isinstance(m, SpatialTransformer))
    in_transformers = sum(blocks[k] for k in ("cross-attention", "feed-forward", "norm + proj"))
    attn1 = _sum_of(course_unet, lambda n, m: n.endswith("attn1"))
    assert transformers == in_transformers + attn1
    levels = parameters_by_level(course_unet)
    assert list(levels) == ["down.0", "down.1", "mid", "up.0", "up.1", "in/out"]
    assert sum(levels.values()) == _n(course_unet)


def test_the_course_text_encoder_and_autoencoder():
    enc = TextEncoder(TextEncoderConfig())
    blocks = parameters_by_block(enc)
    assert sum(blocks.values()) == _n(enc)
    assert blocks["embeddings"] == (25 + 16) * 64
    assert blocks["self-attention"] == 2 * 4 * (64 * 64 + 64)
    assert blocks["feed-forward"] == 2 * (2 * 64 * 256 + 256 + 64)
    vae = AutoencoderKL(AutoencoderKLConfig(base_channels=32, norm_groups=8))
    blocks = parameters_by_block(vae)
    assert sum(blocks.values()) == _n(vae) and blocks["other"] == 0
    assert blocks["ResNet"] > blocks["up/down sampling"] > 0


def test_shared_parameters_are_counted_once():
    lin = nn.Linear(3, 3)
    net = nn.Sequential(lin, lin)
    assert parameters_by_block(net)["other"] == 12 == count_parameters(net)


def test_conv_and_linear_flops_closed_form_same_on_cpu_and_meta():
    def count(device):
        with torch.device(device):
            net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 16, 5))
            x = torch.zeros(2, 3, 4, 4)
        return forward_flops(net, x)

    # 2 FLOPs per multiply-accumulate: conv 2 B Cout Cin k^2 H W, linear 2 B in out
    expected = 2 * 2 * 8 * 3 * 9 * 16 + 2 * 2 * 128 * 5
    assert count("cpu") == count("meta") == expected


def test_attention_is_counted_on_meta_but_not_by_the_fused_cpu_kernel():
    def sdpa(device):
        q = torch.zeros(1, 2, 16, 8, device=device)  # (B, h, N, d)
        return flops_by_operator(F.scaled_dot_product_attention, q, q, q)

    assert sdpa("meta") == {"bmm": 2 * (2 * 2 * 16 * 16 * 8)}  # QK^T and AV
    assert sdpa("cpu") == {}  # why forward_flops counts on meta


def test_sd15_unet_flops_and_the_attention_share_in_closed_form():
    ev = reference_evaluations("sd-1.5")["unet"]
    ops = flops_by_operator(ev["call"], *ev["args"], **ev["kwargs"])
    assert sum(ops.values()) == 803_273_441_280
    # QK^T and AV per transformer: 4 N C (N + 77) (self-attention over N = h w pixels,
    # cross-attention over 77 tokens); 5 transformers at 64^2, 32^2 and 16^2, 1 at 8^2
    levels = [(64 * 64, 320, 5), (32 * 32, 640, 5), (16 * 16, 1280, 5), (8 * 8, 1280, 1)]
    assert ops["bmm"] == sum(4 * n * c * (n + 77) * k for n, c, k in levels)


def test_flops_of_the_other_evaluations():
    flops = {}
    for model in ("sd-2.1", "sdxl"):
        for c, ev in reference_evaluations(model).items():
            flops[model, c] = forward_flops(ev["call"], *ev["args"], **ev["kwargs"])
    assert flops["sd-2.1", "unet"] == 2_149_105_745_920  # 96 x 96 latent
    assert flops["sdxl", "unet"] == 6_761_236_398_080  # 128 x 128 latent, text_time inputs
    assert flops["sdxl", "vae"] == 10_470_392_594_432  # decode to 1024^2
    assert flops["sdxl", "text_encoder_2"] == 97_863_106_560


def test_anatomy_rows_of_sd15_and_of_the_course_side_by_side(course_unet):
    rows = anatomy_rows(reference_evaluations("sd-1.5"))
    assert [r["component"] for r in rows] == ["unet", "vae", "text_encoder"]
    unet, vae, text = rows
    assert unet["parameters"] == 859_520_964 and unet["GFLOPs"] == 803.27344128
    assert vae["GFLOPs"] == pytest.approx(2514.518933504)  # one decode, 4x64x64 -> 512^2
    assert text["parameters"] == 123_060_480
    assert unet["fp32 (MiB)"] == 859_520_964 * 4 / 2**20 == 2 * unet["fp16 (MiB)"]
    x, t, ctx = torch.zeros(1, 4, 8, 8), torch.tensor([10]), torch.zeros(1, 5, 16)
    ours = anatomy_row("unet", course_unet, course_unet, (x, t), {"context": ctx})
    assert list(ours) == list(unet)
    assert ours["parameters"] == _n(course_unet) and ours["GFLOPs"] > 0
    assert anatomy_row("unet", course_unet)["GFLOPs"] is None


def test_memory_bytes():
    assert memory_bytes(859_520_964) == 3_438_083_856
    assert memory_bytes(859_520_964, torch.float16) == 1_719_041_928
    assert memory_bytes(10, torch.bfloat16) == 20


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="module"):
        parameters_by_block("unet")
    with pytest.raises(ValueError, match="module"):
        count_parameters(None)
    with pytest.raises(ValueError, match="module must be a UNet"):
        parameters_by_level(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="fn"):
        forward_flops(3, torch.zeros(1))
    with pytest.raises(ValueError, match="n_params"):
        memory_bytes(-1)
    with pytest.raises(ValueError, match="dtype"):
        memory_bytes(10, torch.int8)
    with pytest.raises(ValueError, match="name"):
        anatomy_row(1, nn.Linear(2, 2))
    with pytest.raises(ValueError, match="evaluations"):
        anatomy_rows({})
    with pytest.raises(ValueError, match="unknown keys"):
        anatomy_rows({"unet": {"module": nn.Linear(2, 2), "inputs": ()}})
