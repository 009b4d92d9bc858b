"""The reverse-process loop that every pipeline shares: DDIM steps (Song et al. 2020,
arXiv:2010.02502, Eq. 12) over a list of timesteps, from any starting point
(``ldm_teach.diffusion.ddim_sample`` with explicit ``timesteps`` and ``after_step``).

Text-to-image starts from pure noise at the first timestep; img2img (SDEdit, Meng et al.
2021, arXiv:2108.01073) starts from a noised image part-way down the list; inpainting
blends the known region back in after every step. One loop serves all three:

    for i, t in enumerate(timesteps):
        out     = model_fn(z, t)                        # guided UNet output
        z, x0   = ddim_step(out, t, t_next, z)          # Eq. 12 (η = 0: deterministic)
        z       = after_step(i, t_next, z)              # e.g. inpainting's blend
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ldm_teach.argcheck import check_bool
from ldm_teach.diffusion import NoiseSchedule, ddim_sample, ddim_timesteps

AfterStep = Callable[[int, int, Tensor], Tensor]


def sampling_timesteps(
    schedule: NoiseSchedule, num_inference_steps: int, spacing: str, steps_offset: int = 0
) -> list[int]:
    """The descending timesteps of a DDIM run (see ``ddim_timesteps``; Stable Diffusion's
    schedulers add ``steps_offset=1`` to "leading" timesteps), as Python ints."""
    T = schedule.num_train_timesteps
    return ddim_timesteps(num_inference_steps, T, spacing, steps_offset).tolist()


@torch.no_grad()
def denoise_loop(
    model_fn: Callable[[Tensor, Tensor], Tensor],
    z: Tensor,
    timesteps: list[int],
    schedule: NoiseSchedule,
    prediction_type: str,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    progress: bool = False,
    after_step: AfterStep | None = None,
    set_alpha_to_one: bool = True,
) -> Tensor:
    """Run DDIM from ``z`` at ``timesteps[0]`` down to x0.

    Args:
        model_fn: (z_t (B, c, h, w), t (B,) int64) -> the network output (ε, v or x0).
        z: (B, c, h, w) latents at timesteps[0].
        timesteps: strictly descending ints in [0, T-1]; the step after the last goes to
            ᾱ = 1 if ``set_alpha_to_one`` (diffusers' default), else to ᾱ_0 (Stable
            Diffusion's scheduler configs).
        prediction_type: how ddim_step reads the output.
        eta: η in [0, 1].
        after_step: called as ``after_step(i, t_next, z)`` after step i (t_next = -1 after
            the last) and returns the latents to continue with.
    Returns:
        The final latents z0 (B, c, h, w).
    Raises:
        RuntimeError: if the latents stop being finite (the settings are named).
    """
    z = ddim_sample(
        model_fn,
        tuple(z.shape),
        schedule,
        eta=eta,
        prediction_type=prediction_type,
        generator=generator,
        x_T=z,
        progress=check_bool(progress, "progress"),
        timesteps=timesteps,
        after_step=after_step,
        set_alpha_to_one=set_alpha_to_one,
    )
    if not bool(torch.isfinite(z).all()):
        raise RuntimeError(
            f"sampling diverged: the latents are not finite with prediction_type="
            f"{prediction_type!r}, eta={eta}, {len(timesteps)} steps; lower guidance_scale "
            f"or check the schedule the model was trained with"
        )
    return z
