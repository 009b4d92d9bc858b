"""TextToImage: guidance in one batch, negative prompts, rescale, prediction types, sizes."""

import pytest
import torch

from ldm_teach.diffusion import classifier_free_guidance, get_v, q_sample

PROMPTS = ["a small red circle at the top left", "a large blue square in the centre"]


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_sample_shapes_range_and_seed(model):
    a = model.sample(PROMPTS, num_inference_steps=4, generator=gen())
    b = model.sample(PROMPTS, num_inference_steps=4, generator=gen())
    assert a.shape == (2, 3, 16, 16) and a.dtype == torch.float32
    assert a.abs().max() <= 1.0 and torch.equal(a, b)


def test_one_batch_of_2b_equals_two_unet_calls(model):
    z = torch.randn(2, 4, 8, 8, generator=gen())
    t = torch.tensor([500, 500])
    _, ctx, unc = model.encode_prompts(PROMPTS, "red", 3.0)
    got = model.guided_output(z, t, ctx, unc, 3.0)
    with torch.no_grad():
        want = classifier_free_guidance(
            model.unet(z, t, context=unc), model.unet(z, t, context=ctx), 3.0
        )
    assert (got - want).abs().max() < 1e-5


def test_negative_prompt_takes_the_place_of_the_empty_prompt(model):
    default = model.sample(PROMPTS, num_inference_steps=3, generator=gen())
    empty = model.sample(PROMPTS, negative_prompt="", num_inference_steps=3, generator=gen())
    other = model.sample(PROMPTS, negative_prompt="red", num_inference_steps=3, generator=gen())
    assert torch.equal(default, empty) and not torch.allclose(default, other)
    with pytest.raises(ValueError, match="guidance_scale != 1"):
        model.sample(PROMPTS, negative_prompt="red", guidance_scale=1.0)
    with pytest.raises(ValueError, match="one per prompt"):
        model.sample(PROMPTS, negative_prompt=["a", "b", "c"])


def test_guidance_rescale_changes_samples_and_zero_does_not(model):
    plain = model.sample(PROMPTS, num_inference_steps=3, generator=gen())
    zero = model.sample(PROMPTS, guidance_rescale=0.0, num_inference_steps=3, generator=gen())
    some = model.sample(PROMPTS, guidance_rescale=0.7, num_inference_steps=3, generator=gen())
    assert torch.equal(plain, zero) and not torch.allclose(plain, some)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_loss_trains_on_the_target_of_the_prediction_type(prediction_type, make_model):
    model = make_model(prediction_type)
    model.cond_drop_prob = 0.0
    z0 = torch.randn(2, 4, 8, 8, generator=gen(1))
    ids = model.tokenize(PROMPTS)
    loss = model.loss(z0, ids, gen(2))
    g = gen(2)  # redraw t and eps exactly as the loss did
    t = torch.randint(0, 1000, (2,), generator=g)
    eps = torch.randn(z0.shape, generator=g)
    target = eps if prediction_type == "epsilon" else get_v(z0, eps, t, model.schedule)
    z_t = q_sample(z0, t, eps, model.schedule)
    with torch.no_grad():
        out = model.unet(z_t, t, context=model.encode_text(ids))
    assert torch.allclose(loss, ((out - target) ** 2).mean(), atol=1e-6)


def test_v_prediction_with_zero_terminal_snr_samples_finite_images(make_model):
    model = make_model("v_prediction", rescale_betas_zero_snr=True)
    x = model.sample(PROMPTS, num_inference_steps=4, spacing="trailing", generator=gen())
    assert torch.isfinite(x).all()


def test_caption_dropout_trains_the_empty_prompt(make_model):
    model = make_model()
    model.cond_drop_prob = 0.999
    z0 = torch.randn(2, 4, 8, 8)
    a = model.loss(z0, model.tokenize(PROMPTS), gen(3))
    b = model.loss(z0, model.tokenize(["", ""]), gen(3))
    assert torch.allclose(a, b)


def test_frozen_text_encoder_gets_no_gradient_joint_one_does(model, make_model):
    z0 = torch.randn(2, 4, 8, 8)
    model.train()
    model.loss(z0, model.tokenize(PROMPTS), gen()).backward()
    assert all(p.grad is None for p in model.text_encoder.parameters())
    joint = make_model()
    joint.train_text_encoder = True
    joint.text_encoder.requires_grad_(True)
    joint.train()
    joint.loss(z0, joint.tokenize(PROMPTS), gen()).backward()
    assert any(p.grad is not None for p in joint.text_encoder.parameters())


def test_other_sizes_and_bad_sizes(model):
    x = model.sample(PROMPTS[:1], height=16, width=32, num_inference_steps=2, generator=gen())
    assert x.shape == (1, 3, 16, 32)
    with pytest.raises(ValueError, match="divisible by f=2"):
        model.sample(PROMPTS[:1], image_size=15)
    with pytest.raises(ValueError, match="not both"):
        model.sample(PROMPTS[:1], image_size=16, height=16)
    with pytest.raises(ValueError, match="x_T must be"):
        model.sample(PROMPTS, x_T=torch.randn(1, 4, 8, 8))


def test_unknown_words_and_bad_prompts_are_refused(model):
    with pytest.raises(ValueError, match="unknown word 'purple'"):
        model.sample("a purple circle")
    with pytest.raises(ValueError, match="prompts must be a str"):
        model.sample([])
    with pytest.raises(ValueError, match="guidance_scale"):
        model.sample(PROMPTS, guidance_scale=float("nan"))
