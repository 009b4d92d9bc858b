"""DreamBooth with prior preservation (Ruiz et al. 2022, arXiv:2208.12242, Sec. 3.3, Eq. 2;
course Sec. 10.5.2).

The whole UNet is fine-tuned on a few images of one subject captioned with a rare token and
its class ("a large red sks in the centre", class "triangle"). Alone, that drifts the class
towards the subject (language drift) and forgets its variety; the prior-preservation loss
keeps the class by training, beside the instances, on the base model's *own* samples of
the class caption, generated before fine-tuning:

    L = E || ε - ε_θ(z_t, t, c_inst) ||²  +  λ E || ε' - ε_θ(z'_t, t', c_class) ||²   Eq. 2

with z'_0 the latents of the class images x_pr = x̂_θ_base(c_class) and λ the
``prior_loss_weight`` (1 in the paper). λ = 0 is plain fine-tuning. The rare token is added
with :func:`~ldm_teach.adapt.textual_inversion.add_placeholder_token` (the course's
vocabulary has no unused words; Stable Diffusion DreamBooths pick a rare existing one).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ldm_teach.adapt.finetune import encode_examples, finetune
from ldm_teach.argcheck import check_int, check_real
from ldm_teach.pipelines import TextToImage


@torch.no_grad()
def class_prior_images(
    model: TextToImage,
    class_captions: Sequence[str],
    generator: torch.Generator | None = None,
    guidance_scale: float = 3.0,
    num_inference_steps: int = 25,
) -> Tensor:
    """The base model's samples of the class captions, x_pr in Eq. 2: call it before
    fine-tuning. Returns (N, 3, H, W) float32 in [-1, 1], one image per caption."""
    return model.sample(
        list(class_captions),
        guidance_scale=guidance_scale,
        num_inference_steps=num_inference_steps,
        generator=generator,
    )


def train_dreambooth(
    model: TextToImage,
    instance_images: Tensor,
    instance_captions: Sequence[str],
    class_images: Tensor,
    class_captions: Sequence[str],
    steps: int = 100,
    lr: float = 1e-4,
    prior_loss_weight: float = 1.0,
    generator: torch.Generator | None = None,
    batch_size: int = 4,
) -> dict[str, list[float]]:
    """Fine-tune all of ``model.unet`` with Eq. 2 (the text encoder stays frozen).

    Args:
        model: a TextToImage whose tokenizer knows the rare token.
        instance_images, instance_captions: the subject, (N, 3, H, W) in [-1, 1] and N
            captions with the rare token.
        class_images, class_captions: the prior, (M, 3, H, W) from
            :func:`class_prior_images` and their M captions (the class word, no token).
        steps, lr, generator: as :func:`~ldm_teach.adapt.finetune.finetune`.
        prior_loss_weight: λ >= 0; 0 skips the prior term.
        batch_size: instances per step, and as many class images.
    Returns:
        {"loss": total per step, "prior_loss": the unweighted prior term per step (empty
        when λ = 0)}.
    Raises:
        ValueError: on a bad number or mismatched images and captions.
    """
    weight = check_real(prior_loss_weight, "prior_loss_weight", lo=0.0)
    batch_size = check_int(batch_size, "batch_size", lo=1)
    z_inst, ids_inst = encode_examples(model, instance_images, instance_captions)
    z_class, ids_class = encode_examples(model, class_images, class_captions)
    prior_losses: list[float] = []

    def prior_loss(gen: torch.Generator | None) -> Tensor:
        idx = torch.randperm(z_class.shape[0], generator=gen)[: min(batch_size, z_class.shape[0])]
        loss = model.loss(z_class[idx], ids_class[idx], generator=gen)
        prior_losses.append(float(loss.detach()))
        return weight * loss

    model.unet.requires_grad_(True)
    params = list(model.unet.parameters())
    extra = prior_loss if weight > 0 else None
    losses = finetune(model, params, z_inst, ids_inst, steps, lr, generator, batch_size, extra)
    return {"loss": losses, "prior_loss": prior_losses}
