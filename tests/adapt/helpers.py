"""Helpers of the adaptation tests."""

import torch


def unet_output(model, seed=0):
    """The UNet's output on seeded latents, timesteps and a caption, (2, 4, 8, 8)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(2, 4, 8, 8, generator=g)
    t = torch.tensor([100, 700])
    context = model.encode_text(model.tokenize(["a large red circle in the centre", ""]))
    with torch.no_grad():
        return model.unet(z, t, context=context)
