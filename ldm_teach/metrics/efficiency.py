"""The cost side of pixel vs latent diffusion, measured side by side (course Sec. 10.3.5).

:func:`measure_efficiency` measures one model: the UNet's FLOPs per denoising step, the
median wall time of a training step and the wall time of sampling. :func:`relative_to`
turns a list of such measurements into ratios against one of them (pixel space), which is
how the chapter states its claim; :data:`CHAPTER_SPEEDUPS` holds the chapter's figures.
Notebook 10.3 and ``benchmarks/ldm_quality_vs_efficiency.py`` both call these.

Timings move with the machine and its load: compare only rows measured in one run.
"""

from __future__ import annotations

import math
import time

import torch

from ldm_teach.argcheck import check_int, check_real
from ldm_teach.metrics.compute import count_flops, time_training_step

#: The chapter's compute saving of latent over pixel diffusion, by downsampling factor f
#: (its table in Sec. 10.3.5; quoted, not measured).
CHAPTER_SPEEDUPS = {1: "1x", 4: "10-15x", 8: "40-60x", 16: "150-200x"}


def measure_efficiency(
    ldm,
    *,
    image_size: int = 32,
    batch_size: int = 32,
    repeats: int = 3,
    num_samples: int = 10,
    num_inference_steps: int = 25,
    guidance_scale: float = 2.0,
    seed: int = 0,
) -> dict:
    """FLOPs, training-step time and sampling time of a class-conditional LDM.

    Args:
        ldm: a :class:`~ldm_teach.models.LatentDiffusion` with a class-conditional UNet
            (10 classes); its autoencoder fixes the latent shape.
        image_size: H = W of the images, an int >= 8.
        batch_size: batch of the FLOP count and of the timed training step, int in [1, 1024].
        repeats: timed training steps (the median is kept), an int in [1, 100].
        num_samples: images sampled for the sampling time, an int in [1, 1000].
        num_inference_steps, guidance_scale: of that DDIM sampling run.
        seed: seeds the inputs of the measurements (they do not change the counts).
    Returns:
        {"settings": the arguments above that the numbers depend on,
        "latent_shape": (c, h, w), "latent_numbers": c*h*w, "f": image_size // w,
        "flops": FLOPs of one UNet forward on the batch (one denoising step of
        ``batch_size`` images), "train_step_s": median seconds of forward + backward +
        optimizer step, "sampling_s": seconds to sample ``num_samples`` images}.
    Raises:
        ValueError: for an argument out of range (named).
    """
    image_size = check_int(image_size, "image_size", 8)
    batch_size = check_int(batch_size, "batch_size", 1, 1024)
    repeats = check_int(repeats, "repeats", 1, 100)
    num_samples = check_int(num_samples, "num_samples", 1, 1000)
    check_real(guidance_scale, "guidance_scale")
    seed = check_int(seed, "seed", 0, 2**63 - 1)
    shape = tuple(ldm.latent_shape(image_size))
    z = torch.randn(batch_size, *shape, generator=torch.Generator().manual_seed(seed))
    t = torch.randint(
        0,
        ldm.schedule.num_train_timesteps,
        (batch_size,),
        generator=torch.Generator().manual_seed(seed + 1),
    )
    y = torch.arange(batch_size) % 10
    with torch.no_grad():
        flops = count_flops(lambda: ldm.unet(z, t, y), backward=False)
    with torch.enable_grad():
        step_s = time_training_step(ldm.unet, lambda m: m(z, t, y).pow(2).mean(), repeats=repeats)
    t0 = time.perf_counter()
    ldm.sample(
        num_samples,
        image_size,
        torch.arange(num_samples) % 10,
        guidance_scale=guidance_scale,
        num_inference_steps=num_inference_steps,
        generator=torch.Generator().manual_seed(seed),
        progress=False,
    )
    return {
        "settings": {
            "image_size": image_size,
            "batch_size": batch_size,
            "num_samples": num_samples,
            "num_inference_steps": num_inference_steps,
            "guidance_scale": float(guidance_scale),
        },
        "latent_shape": shape,
        "latent_numbers": math.prod(shape),
        "f": image_size // shape[-1],
        "flops": flops,
        "train_step_s": step_s,
        "sampling_s": time.perf_counter() - t0,
    }


def relative_to(rows: dict[str, dict], base: str) -> dict[str, dict]:
    """Each measurement of ``rows`` with its savings over ``rows[base]`` added.

    Args:
        rows: name -> a :func:`measure_efficiency` result.
        base: the name of the reference row (pixel space).
    Returns:
        name -> the row plus "flop_ratio", "step_ratio" and "sampling_ratio" (base / row:
        2.0 means half the cost) and "chapter" (:data:`CHAPTER_SPEEDUPS` for the row's f,
        or None).
    Raises:
        KeyError: if ``base`` is not a key of ``rows`` (the message lists the keys).
        ValueError: if a row was measured with other settings (batch, samples, steps,
            guidance, image size) than the base.
    """
    if base not in rows:
        raise KeyError(f"base {base!r} is not one of the measured rows {sorted(rows)}")
    ref = rows[base]
    for name, r in rows.items():  # a ratio of two different measurements means nothing
        if r.get("settings") != ref.get("settings"):
            raise ValueError(
                f"row {name!r} was measured with {r.get('settings')}, the base "
                f"{base!r} with {ref.get('settings')}: measure them alike"
            )
    return {
        name: {
            **r,
            "flop_ratio": ref["flops"] / r["flops"],
            "step_ratio": ref["train_step_s"] / r["train_step_s"],
            "sampling_ratio": ref["sampling_s"] / r["sampling_s"],
            "chapter": CHAPTER_SPEEDUPS.get(r["f"]),
        }
        for name, r in rows.items()
    }
