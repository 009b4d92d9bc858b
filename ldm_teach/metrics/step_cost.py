"""What one training step of a denoising UNet costs on a given input size (Sec. 10.1.1).

:func:`unet_step_cost` draws a seeded batch of the given shape, counts the FLOPs of a
training step (forward and backward, :func:`~ldm_teach.metrics.compute.count_flops`) and
times it (:func:`~ldm_teach.metrics.compute.time_training_step`). The loss is a stand-in
regression of the UNet's output on its input, ``mean (model(x, t) - x)^2``: the cost of a
step does not depend on what the target means, only on the shapes.

FLOP counts are exact and the same on every machine; times move with the machine and its
load, so compare only times measured side by side.
"""

from __future__ import annotations

import torch
from torch import nn

from ldm_teach.argcheck import check_int
from ldm_teach.metrics.compute import count_flops, time_training_step


def unet_step_cost(
    model: nn.Module,
    channels: int,
    side: int,
    batch: int = 8,
    repeats: int = 3,
    num_timesteps: int = 1000,
    seed: int = 0,
) -> dict:
    """FLOPs and median wall time of one training step of ``model`` on a random batch.

    Args:
        model: a denoiser called as ``model(x, t)`` with x (B, C, H, W) and integer
            timesteps t (B,), returning a tensor of x's shape (a :class:`UNet`).
        channels, side: the input shape (channels, side, side), ints >= 1.
        batch: batch size B, an int in [1, 1024].
        repeats: timed steps, an int in [1, 100]; the median is returned.
        num_timesteps: t is drawn uniformly from [0, num_timesteps - 1], an int >= 1.
        seed: x ~ N(0, I) is drawn with ``seed`` and t with ``seed + 1``, an int >= 0.
    Returns:
        {"numbers": channels * side * side (values per input), "flops": FLOPs of forward +
        backward (int), "step_s": median seconds of forward + backward + optimizer step}.
        The model's weights and gradients are left as they were.
    Raises:
        ValueError: naming the argument that is not an int in range.
    """
    channels = check_int(channels, "channels", 1)
    side = check_int(side, "side", 1)
    batch = check_int(batch, "batch", 1, 1024)
    repeats = check_int(repeats, "repeats", 1, 100)
    num_timesteps = check_int(num_timesteps, "num_timesteps", 1)
    seed = check_int(seed, "seed", 0, 2**63 - 2)
    x = torch.randn(batch, channels, side, side, generator=torch.Generator().manual_seed(seed))
    t = torch.randint(0, num_timesteps, (batch,), generator=torch.Generator().manual_seed(seed + 1))

    def step(m: nn.Module) -> torch.Tensor:  # a stand-in regression loss on the output
        return (m(x, t) - x).pow(2).mean()

    # count_flops' backward accumulates into .grad in place: keep copies to put back
    grads = [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]
    with torch.enable_grad():
        flops = count_flops(lambda: step(model))
        for p, g in zip(model.parameters(), grads, strict=True):
            p.grad = g
        seconds = time_training_step(model, step, repeats=repeats)  # restores them itself
    return {"numbers": channels * side * side, "flops": flops, "step_s": seconds}
