"""Inference switches (ldm_teach.pipelines.fast_inference, deepcache) on a tiny random model:
the exact ones change nothing, DeepCache k=1 is the UNet, everything is put back."""

import pytest
import torch

from ldm_teach.pipelines.attention_maps import word_attention_maps
from ldm_teach.pipelines.deepcache import DeepCacheUNet
from ldm_teach.pipelines.fast_inference import fast_inference

PROMPTS = ["a red circle", "a small blue square"]


def _sample(model, **kwargs):
    x_T = torch.randn((2, *model.latent_shape()), generator=torch.Generator().manual_seed(0))
    return model.sample(PROMPTS, num_inference_steps=4, x_T=x_T, **kwargs)


def test_guidance_in_two_calls_equals_one_batch(model):
    assert torch.allclose(_sample(model, batch_guidance=False), _sample(model), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="batch_guidance"):
        _sample(model, batch_guidance=1)


@pytest.mark.parametrize(
    "fast, atol",
    [
        ({"cache_context": True}, 1e-6),  # the same operations: exact
        ({"deep_cache_interval": 1}, 1e-6),
        ({"attention": "sdpa"}, 1e-5),  # other kernels: float32 rounding
        ({"channels_last": True}, 1e-5),
        ({"cache_context": True, "attention": "sdpa", "deep_cache_interval": 1}, 1e-5),
    ],
)
@pytest.mark.parametrize("batch_guidance", [True, False])
def test_exact_switches_change_nothing(model, fast, atol, batch_guidance):
    plain = _sample(model, batch_guidance=batch_guidance)
    unet = model.unet
    with fast_inference(model, **fast):
        fast_images = _sample(model, batch_guidance=batch_guidance)
    assert model.unet is unet and all(
        m.context_cache is None for m in unet.modules() if hasattr(m, "context_cache")
    )
    assert unet.conv_in.weight.is_contiguous()
    assert torch.allclose(fast_images, plain, atol=atol, rtol=0)


def test_bf16_and_deep_cache_are_close_but_not_exact(model):
    plain = _sample(model)
    with fast_inference(model, bf16=True):
        half = _sample(model)
    with fast_inference(model, deep_cache_interval=2) as net:
        cached = _sample(model)
    assert half.dtype == torch.float32 and 0 < (half - plain).abs().max() < 0.2
    assert 0 < (cached - plain).abs().max()
    assert (net.full_calls, net.cached_calls) == (2, 2)  # steps 0 and 2 run the whole UNet


def test_attention_maps_with_the_context_cache(model):
    kwargs = {"num_inference_steps": 3, "generator": torch.Generator().manual_seed(1)}
    _, plain, _ = word_attention_maps(model, PROMPTS, **kwargs)
    kwargs["generator"] = torch.Generator().manual_seed(1)
    with fast_inference(model, cache_context=True, attention="sdpa"):
        _, cached, _ = word_attention_maps(model, PROMPTS, **kwargs)
    assert torch.allclose(cached, plain, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="batch_guidance must be True"):
        word_attention_maps(model, PROMPTS, batch_guidance=False)


def test_deep_cache_k1_is_the_unet_and_counts_steps(model):
    unet = model.unet
    g = torch.Generator().manual_seed(2)
    x, c = torch.randn(3, 4, 8, 8, generator=g), torch.randn(3, 7, 16, generator=g)
    plain = unet(x, torch.tensor([900, 900, 900]), context=c)
    net = DeepCacheUNet(unet, 1)
    assert torch.equal(net(x, torch.tensor([900, 900, 900]), context=c), plain)
    net = DeepCacheUNet(unet, 3)
    for t in (900, 900, 600, 600, 300, 300, 100, 900):  # two calls a step, then a new run
        net(x, torch.full((3,), t), context=c)
    assert (net.full_calls, net.cached_calls) == (4, 4)  # steps 0 (2 calls), 3, new run
    assert net.step == 0 and sum(p.numel() for p in net.parameters(recurse=False)) == 0


def test_bad_arguments_are_refused(model):
    with pytest.raises(ValueError, match="interval"):
        DeepCacheUNet(model.unet, 0)
    with pytest.raises(ValueError, match="unet must be a UNet"):
        DeepCacheUNet(torch.nn.Linear(2, 2), 2)
    with pytest.raises(ValueError, match="deep_cache_interval"):
        with fast_inference(model, deep_cache_interval=0):
            pass
    with pytest.raises(ValueError, match="bf16"):
        with fast_inference(model, bf16="yes"):
            pass
    with pytest.raises(ValueError, match="name must be one of"):
        with fast_inference(model, attention="flash"):
            pass
    with pytest.raises(ValueError, match=r"\.unet"):
        with fast_inference(torch.nn.Linear(2, 2)):
            pass
