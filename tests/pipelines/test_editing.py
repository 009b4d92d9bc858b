"""img2img, inpainting, attention maps and prompt-to-prompt on a tiny random model."""

import pytest
import torch

from ldm_teach.pipelines.attention_maps import (
    AttentionStore,
    attention_control,
    cross_attention_layers,
    word_attention_maps,
)
from ldm_teach.pipelines.editing import img2img, inpaint, prompt_to_prompt

PROMPT = "a small red circle at the top left"


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_img2img_strength_runs_that_fraction_of_the_steps(model):
    x = model.sample(PROMPT, num_inference_steps=4, generator=gen())
    calls = []
    unet_forward = model.unet.forward
    model.unet.forward = lambda *a, **k: calls.append(1) or unet_forward(*a, **k)
    out = img2img(model, x, PROMPT, strength=0.5, num_inference_steps=10, generator=gen())
    assert out.shape == x.shape and len(calls) == 5
    with pytest.raises(ValueError, match="strength"):
        img2img(model, x, PROMPT, strength=0.0)
    with pytest.raises(ValueError, match="one per prompt"):
        img2img(model, x.repeat(2, 1, 1, 1), PROMPT)


def test_inpaint_keeps_the_latents_outside_the_mask(model):
    x = model.sample(PROMPT, num_inference_steps=3, generator=gen())
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., :8, :8] = 1  # regenerate the top-left quarter
    out, z = inpaint(
        model,
        x,
        mask,
        "a large blue square",
        num_inference_steps=4,
        generator=gen(),
        return_latents=True,
    )
    known = model.encode(x)  # f = 2: the latent mask is the top-left 4 x 4
    assert torch.equal(z[..., 4:, :], known[..., 4:, :]) and torch.equal(z[..., 4:], known[..., 4:])
    assert (z[..., :4, :4] - known[..., :4, :4]).abs().max() > 1e-3
    assert out.shape == x.shape
    with pytest.raises(ValueError, match="mask must be"):
        inpaint(model, x, torch.zeros(1, 8, 8), PROMPT)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        inpaint(model, x, 2 * torch.ones(1, 16, 16), PROMPT)


def test_attention_store_sums_every_layer_and_step_and_is_removed_after(model):
    layers = cross_attention_layers(model.unet)
    assert layers and all(n.endswith("attn2") for n in layers)
    images, maps, tokens = word_attention_maps(
        model, [PROMPT, "a blue square"], num_inference_steps=3, generator=gen()
    )
    assert maps.shape == (2, 16, 16, 16) and 0 <= maps.min() and maps.amax() <= 1
    assert tokens[1] == ["<|startoftext|>", "a", "blue", "square", "<|endoftext|>"]
    assert all(layer.attention_control is None for layer in layers.values())
    store = AttentionStore((16, 16), guided=True)
    with attention_control(model.unet, store):
        model.sample(PROMPT, num_inference_steps=3, generator=gen())
    assert store.calls == 3 * len(layers)
    # the raw sums: every pixel's weights add up to one per head and layer call
    *_, raw = word_attention_maps(
        model, PROMPT, num_inference_steps=3, generator=gen(), return_raw=True
    )
    heads = sum(layer.num_heads for layer in layers.values())
    torch.testing.assert_close(raw.sum(1), torch.full((1, 16, 16), 3.0 * heads))
    # the maps do not change the samples
    again = model.sample([PROMPT, "a blue square"], num_inference_steps=3, generator=gen())
    assert torch.allclose(images, again, atol=1e-5)


def test_prompt_to_prompt_without_injection_is_regeneration_from_the_same_noise(model):
    noise = torch.randn(1, 4, 8, 8, generator=gen(5))
    target = "a small blue circle at the top left"
    edits = prompt_to_prompt(model, PROMPT, target, cross_replace=0.0, x_T=noise)
    alone = model.sample([PROMPT, target], x_T=noise.expand(2, -1, -1, -1))
    assert (edits - alone).abs().max() < 1e-4
    same = prompt_to_prompt(model, PROMPT, PROMPT, cross_replace=1.0, x_T=noise)
    assert (same[0] - same[1]).abs().max() < 1e-5
    injected = prompt_to_prompt(model, PROMPT, target, cross_replace=1.0, x_T=noise)
    assert not torch.allclose(injected[1], edits[1])
    with pytest.raises(ValueError, match="equal token count"):
        prompt_to_prompt(model, PROMPT, "a blue circle")
