"""DreamBooth with prior preservation (ldm_teach.adapt.dreambooth)."""

import pytest
import torch

from ldm_teach.adapt import add_placeholder_token
from ldm_teach.adapt.dreambooth import class_prior_images, train_dreambooth


@pytest.fixture
def setup(model, stars):
    images, captions = stars
    class_captions = [c.replace("star", "triangle") for c in captions[:4]]
    g = torch.Generator().manual_seed(0)
    class_images = class_prior_images(model, class_captions, g, num_inference_steps=3)
    add_placeholder_token(model, "sks", initializer_token="triangle")
    instance_captions = [c.replace("star", "sks") for c in captions]
    return images, instance_captions, class_images, class_captions


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_both_weights_run_and_the_prior_uses_the_class_images(model, setup, weight, monkeypatch):
    images, captions, class_images, class_captions = setup
    assert class_images.shape == (4, 3, 32, 32)
    class_z = model.encode(class_images)
    seen = []
    loss = model.loss

    def spy(z0, input_ids, generator=None):
        seen.append(z0)
        return loss(z0, input_ids, generator=generator)

    monkeypatch.setattr(model, "loss", spy)
    before = [p.clone() for p in model.unet.parameters()]
    g = torch.Generator().manual_seed(0)
    out = train_dreambooth(
        model,
        images,
        captions,
        class_images,
        class_captions,
        steps=2,
        lr=1e-4,
        prior_loss_weight=weight,
        generator=g,
        batch_size=2,
    )
    assert len(out["loss"]) == 2
    from_class = [z for z in seen if any(torch.equal(z[0], c) for c in class_z)]
    if weight == 0:
        assert out["prior_loss"] == [] and not from_class and len(seen) == 2
    else:
        assert len(out["prior_loss"]) == 2 and len(from_class) == 2 and len(seen) == 4
        assert all(all(any(torch.equal(zi, c) for c in class_z) for zi in z) for z in from_class)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.unet.parameters(), strict=True))
    assert not any(p.requires_grad for p in model.text_encoder.parameters())


def test_bad_weight(model, setup):
    with pytest.raises(ValueError, match="prior_loss_weight"):
        train_dreambooth(model, *setup, steps=1, prior_loss_weight=-1.0)
