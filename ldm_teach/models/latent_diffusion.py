"""Latent Diffusion Model: a frozen autoencoder (stage 1) tied to a denoising UNet
(stage 2) (Rombach et al. 2022, arXiv:2112.10752, Sec. 3.2, Eq. 2):

    z0 = scale_factor * E(x)                          encode (posterior mode), rescaled
    z_t = sqrt(abar_t) z0 + sqrt(1 - abar_t) eps       forward process (Ho et al. 2020, Eq. 4)
    L_LDM = E_{z0, y, eps, t} || eps - eps_theta(z_t, t, y) ||^2        (Eq. 2, with labels y)
            (or the same loss on v = sqrt(abar_t) eps - sqrt(1 - abar_t) z0, or on z0 itself,
            for a UNet that predicts v or x0: ``prediction_type``, Salimans & Ho 2022)
    x = D(z0 / scale_factor)                           decode a sample

``scale_factor`` = 1 / std of the training latents (Sec. 4.3.2 and Appendix G: "rescale the
latent to unit standard deviation"), computed once from data and stored with the model so
that training and sampling can never disagree about it.

Classifier-free guidance (Ho & Salimans 2022, arXiv:2207.12598, Eq. 6): labels are dropped
to the null label with probability ``cond_drop_prob`` during training; sampling combines
eps_u + w (eps_c - eps_u) with w = ``guidance_scale``, in [0, MAX_GUIDANCE_SCALE].
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ldm_teach.argcheck import check_int, is_int
from ldm_teach.autoencoders import VQVAE, AutoencoderKL
from ldm_teach.diffusion import (
    PREDICTION_TYPES,
    NoiseSchedule,
    ScheduleConfig,
    classifier_free_guidance,
    ddim_sample,
    ddpm_sample,
    get_v,
    q_sample,
)
from ldm_teach.models.unet import UNet

#: Largest classifier-free guidance weight accepted. The course uses 0-4 and Stable
#: Diffusion about 7.5; far beyond ~100 the guided prediction is dominated by the
#: difference eps_c - eps_u and sampling overflows.
MAX_GUIDANCE_SCALE = 100.0


def check_guidance_scale(guidance_scale: float) -> float:
    """``guidance_scale`` as a float; ValueError unless a finite number in [0, 100]."""
    if (
        isinstance(guidance_scale, bool)
        or not isinstance(guidance_scale, numbers.Real)
        or not math.isfinite(guidance_scale)
        or not 0.0 <= guidance_scale <= MAX_GUIDANCE_SCALE
    ):
        raise ValueError(
            f"guidance_scale must be a finite number in [0, {MAX_GUIDANCE_SCALE:g}] (0 = "
            f"unconditional, 1 = conditional, the course uses 0-4), got {guidance_scale!r}"
        )
    return float(guidance_scale)


@torch.no_grad()
def _check_kl_autoencoder(autoencoder) -> None:
    """TypeError unless ``autoencoder`` encodes to a Gaussian posterior (AutoencoderKL, or
    IdentityAutoencoder for pixel space): a VQVAE's latents are codebook vectors, not the
    continuous latents this model scales and noises."""
    if (
        isinstance(autoencoder, VQVAE)
        or not isinstance(autoencoder, nn.Module)
        or not (
            callable(getattr(autoencoder, "encode", None))
            and callable(getattr(autoencoder, "decode", None))
        )
    ):
        raise TypeError(
            f"autoencoder must be an AutoencoderKL (or IdentityAutoencoder for "
            f"pixel space), got {type(autoencoder).__name__}"
        )


@torch.no_grad()
def compute_scale_factor(autoencoder: AutoencoderKL, images: Iterable[Tensor] | Tensor) -> float:
    """1 / std of the posterior-mode latents of ``images`` (LDM Appendix G).

    Args:
        autoencoder: a trained autoencoder.
        images: (N, C, H, W) in [-1, 1], or an iterable of such batches.
    Returns:
        A positive float.
    Raises:
        ValueError: if no images are given or the latents have zero spread.
    """
    batches = [images] if isinstance(images, Tensor) else list(images)
    if not batches or sum(b.shape[0] for b in batches) == 0:
        raise ValueError("images must contain at least one image")
    _check_kl_autoencoder(autoencoder)
    autoencoder.eval()
    z = torch.cat([autoencoder.encode(b).mode() for b in batches])
    std = float(z.float().std())
    if not std > 0:
        raise ValueError(f"latents have std {std}; cannot compute a scale factor")
    return 1.0 / std


class LatentDiffusion(nn.Module):
    """Autoencoder + UNet + noise schedule, with training loss and samplers.

    Args:
        autoencoder: stage 1; frozen here (``requires_grad=False``, eval mode).
        unet: stage 2 noise predictor; ``unet.config.in_channels`` and ``out_channels``
            must equal the latent channels.
        schedule_config: the noise schedule (see :class:`ldm_teach.diffusion.ScheduleConfig`).
        scale_factor: multiplies latents before diffusion; a positive float.
        cond_drop_prob: probability of replacing a label by the null label in training
            (classifier-free guidance), in [0, 1).
        prediction_type: what the UNet predicts, and so its training target and how the
            samplers read it: "epsilon" (eps, the default), "v_prediction" (v) or "sample"
            (z0); the names are diffusers'.
    Raises:
        ValueError: if schedule_config is not a ScheduleConfig, on a mismatch between the
            UNet's in_channels or out_channels and the latent channels, a scale_factor that
            is not finite and positive, a bad cond_drop_prob or an unknown prediction_type.
    """

    def __init__(
        self,
        autoencoder: AutoencoderKL,
        unet: UNet,
        schedule_config: ScheduleConfig,
        scale_factor: float,
        cond_drop_prob: float = 0.1,
        prediction_type: str = "epsilon",
    ) -> None:
        super().__init__()
        _check_kl_autoencoder(autoencoder)
        if not isinstance(schedule_config, ScheduleConfig):
            raise ValueError(
                f"schedule_config must be a ScheduleConfig, got {type(schedule_config).__name__}"
            )
        for name in ("in_channels", "out_channels"):
            if getattr(unet.config, name) != autoencoder.config.latent_channels:
                raise ValueError(
                    f"unet.config.{name} ({getattr(unet.config, name)}) must equal the "
                    f"autoencoder's latent_channels ({autoencoder.config.latent_channels})"
                )
        if (
            isinstance(scale_factor, bool)
            or not isinstance(scale_factor, (numbers.Real, Tensor))
            or not math.isfinite(float(scale_factor))
            or not float(scale_factor) > 0
        ):
            raise ValueError(f"scale_factor must be a finite positive float, got {scale_factor!r}")
        if not 0.0 <= cond_drop_prob < 1.0:
            raise ValueError(f"cond_drop_prob must be in [0, 1), got {cond_drop_prob}")
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(
                f"prediction_type must be one of {PREDICTION_TYPES}, got {prediction_type!r}"
            )
        self.prediction_type = prediction_type
        self.autoencoder = autoencoder.eval().requires_grad_(False)
        self.unet = unet
        self.schedule = NoiseSchedule(schedule_config)
        self.cond_drop_prob = cond_drop_prob
        # Stored with the weights (a buffer is saved in the state dict).
        self.register_buffer("scale_factor", torch.tensor(float(scale_factor)))

    def train(self, mode: bool = True) -> LatentDiffusion:
        super().train(mode)
        self.autoencoder.eval()  # stage 1 stays frozen, also in train mode
        return self

    @property
    def num_classes(self) -> int | None:
        return self.unet.config.num_classes

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """Images (B, C, H, W) in [-1, 1] -> scaled latents z0 = scale_factor * mu(x)."""
        return self.autoencoder.encode(x).mode() * self.scale_factor

    @torch.no_grad()
    def decode(self, z: Tensor) -> Tensor:
        """Scaled latents -> images in [-1, 1] (clamped): D(z / scale_factor)."""
        return self.autoencoder.decode(z / self.scale_factor).clamp(-1.0, 1.0)

    def loss(
        self,
        z0: Tensor,
        y: Tensor | None = None,
        generator: torch.Generator | None = None,
        unet: nn.Module | None = None,
    ) -> Tensor:
        """The LDM objective (Eq. 2) on already-encoded, scaled latents.

        Args:
            z0: scaled latents (B, c, h, w).
            y: labels (B,) in [0, num_classes - 1], or None for an unconditional model.
            generator: draws t, eps and the label dropout, for reproducible training.
            unet: the network to call, default ``self.unet``; in data-parallel training its
                DistributedDataParallel wrapper, whose forward averages the gradients.
        Returns:
            scalar mean squared error between the UNet's output and its target: eps, v or
            z0, by ``prediction_type``.
        """
        B = z0.shape[0]
        dev = z0.device
        t = torch.randint(0, self.schedule.num_train_timesteps, (B,), generator=generator).to(dev)
        eps = torch.randn(z0.shape, generator=generator, dtype=z0.dtype).to(dev)
        z_t = q_sample(z0, t, eps, self.schedule)
        if y is not None and self.num_classes is not None and self.cond_drop_prob > 0:
            drop = torch.rand(B, generator=generator).to(dev) < self.cond_drop_prob
            y = torch.where(drop, torch.full_like(y, self.num_classes), y)
        if self.prediction_type == "epsilon":
            target = eps
        elif self.prediction_type == "v_prediction":
            target = get_v(z0, eps, t, self.schedule)
        else:  # "sample"
            target = z0
        return F.mse_loss((self.unet if unet is None else unet)(z_t, t, y), target)

    def eps_fn(self, y: Tensor | None = None, guidance_scale: float = 1.0):
        """The model_fn (z_t, t) -> eps_hat that the samplers call, with guidance folded in.

        ``guidance_scale`` = 1 gives the plain conditional prediction; > 1 extrapolates away
        from the unconditional one (Ho & Salimans 2022, Eq. 6); 0 is unconditional.
        The output is what the UNet predicts (``prediction_type``: eps, v or z0); guidance
        is linear, so guiding v (or z0) is the same as guiding eps. Pass
        ``prediction_type=self.prediction_type`` to the sampler.

        Raises:
            ValueError: if labels are given to an unconditional UNet, or guidance_scale is
                not a finite number in [0, MAX_GUIDANCE_SCALE].
        """
        guidance_scale = check_guidance_scale(guidance_scale)
        if y is None or self.num_classes is None:
            if y is not None:
                raise ValueError("labels y were given but the UNet is unconditional")
            return lambda z_t, t: self.unet(z_t, t, None)
        null = torch.full_like(y, self.num_classes)
        if guidance_scale == 1.0:
            return lambda z_t, t: self.unet(z_t, t, y)

        def guided(z_t: Tensor, t: Tensor) -> Tensor:
            eps = self.unet(torch.cat([z_t, z_t]), torch.cat([t, t]), torch.cat([null, y]))
            eps_uncond, eps_cond = eps.chunk(2)
            return classifier_free_guidance(eps_uncond, eps_cond, guidance_scale)

        return guided

    def latent_shape(self, image_size: int) -> tuple[int, int, int]:
        """(c, image_size / f, image_size / f), the latent of a square image.

        Raises:
            ValueError: unless ``image_size`` is a positive int divisible by f.
        """
        check_int(image_size, "image_size", lo=1, expected="a positive int")
        f = self.autoencoder.downsample_factor
        if image_size % f:
            raise ValueError(f"image_size must be divisible by f={f}, got {image_size}")
        c = self.autoencoder.config.latent_channels
        return (c, image_size // f, image_size // f)

    @torch.no_grad()
    def sample(
        self,
        num_samples: int,
        image_size: int,
        y: Tensor | None = None,
        *,
        guidance_scale: float = 1.0,
        sampler: str = "ddim",
        num_inference_steps: int | None = None,
        eta: float | None = None,
        generator: torch.Generator | None = None,
        progress: bool = True,
    ) -> Tensor:
        """Generate images: sample latents with DDIM or DDPM, then decode.

        Args:
            num_samples: B, a positive int.
            image_size: H = W of the output images, divisible by f.
            y: labels (B,) or None.
            guidance_scale: classifier-free guidance weight w, in [0, MAX_GUIDANCE_SCALE]
                (100; the course uses 0-4).
            sampler: ``"ddim"`` (``num_inference_steps`` steps, default 50, and ``eta``,
                default 0) or ``"ddpm"`` (all training steps; ``num_inference_steps`` and
                ``eta`` must then be left as None).
            generator: a CPU ``torch.Generator`` for reproducible samples.
        The samplers read the UNet's output as ``self.prediction_type``.

        Returns:
            images (B, C_img, H, W) in [-1, 1], float32.
        Raises:
            ValueError: on a bad sampler name, label shape or guidance scale, or
                ``num_inference_steps`` / ``eta`` given with ``sampler="ddpm"``.
            RuntimeError: if sampling diverged (the latents or images are not finite, e.g.
                from a too large guidance_scale or a schedule the UNet was not trained on);
                no NaN images are returned.
        """
        guidance_scale = self._check_sample_args(
            num_samples, image_size, y, guidance_scale, sampler, num_inference_steps, eta, generator
        )
        device = self.scale_factor.device
        if y is not None:
            y = y.to(device)
        shape = (num_samples, *self.latent_shape(image_size))
        x_T = torch.randn(shape, generator=generator).to(device)
        model_fn = self.eps_fn(y, guidance_scale)
        self.unet.eval()
        if sampler == "ddim":
            z0 = ddim_sample(
                model_fn,
                shape,
                self.schedule,
                num_inference_steps=50 if num_inference_steps is None else num_inference_steps,
                eta=0.0 if eta is None else eta,
                prediction_type=self.prediction_type,
                generator=generator,
                x_T=x_T,
                progress=progress,
            )
        else:  # "ddpm", checked above
            z0 = ddpm_sample(
                model_fn,
                shape,
                self.schedule,
                prediction_type=self.prediction_type,
                generator=generator,
                x_T=x_T,
                progress=progress,
            )
        self._check_finite("latents", z0, guidance_scale, sampler)
        images = self.decode(z0)
        self._check_finite("images", images, guidance_scale, sampler)
        return images

    def _check_sample_args(
        self,
        num_samples,
        image_size,
        y,
        guidance_scale,
        sampler,
        num_inference_steps,
        eta,
        generator,
    ) -> float:
        """:meth:`sample`'s argument checks; returns guidance_scale as a float."""
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(
                f"generator must be a torch.Generator or None, got {type(generator).__name__}"
            )
        if not is_int(num_samples) or num_samples < 1:
            raise ValueError(f"num_samples must be an int >= 1, got {num_samples!r}")
        if not is_int(image_size) or image_size < 1:
            raise ValueError(f"image_size must be a positive int, got {image_size!r}")
        guidance_scale = check_guidance_scale(guidance_scale)
        if sampler == "ddpm" and (num_inference_steps is not None or eta is not None):
            raise ValueError(
                f"num_inference_steps and eta apply to sampler='ddim' only; sampler='ddpm' "
                f"runs all {self.schedule.num_train_timesteps} training steps with the "
                f"posterior variance: leave them as None, got num_inference_steps="
                f"{num_inference_steps!r}, eta={eta!r}"
            )
        if sampler not in ("ddim", "ddpm"):
            raise ValueError(f"sampler must be 'ddim' or 'ddpm', got {sampler!r}")
        if y is None and guidance_scale != 1.0:
            raise ValueError(
                "guidance_scale only applies to class-conditional sampling: pass labels y, "
                "or leave guidance_scale at 1.0 for unconditional samples"
            )
        if y is not None:
            if not isinstance(y, Tensor) or y.dtype not in (torch.int64, torch.int32):
                got = f"a tensor of {y.dtype}" if isinstance(y, Tensor) else type(y).__name__
                raise ValueError(f"y must be an integer tensor of labels (torch.long), got {got}")
            if y.shape != (num_samples,):
                raise ValueError(f"y must have shape ({num_samples},), got {tuple(y.shape)}")
            if self.num_classes is not None and (
                int(y.min()) < 0 or int(y.max()) >= self.num_classes
            ):
                raise ValueError(
                    f"labels y must be in [0, {self.num_classes - 1}], got range "
                    f"[{int(y.min())}, {int(y.max())}] (for unconditional samples pass y=None)"
                )
        return guidance_scale

    def _check_finite(self, what: str, x: Tensor, guidance_scale: float, sampler: str) -> None:
        """RuntimeError naming the settings if ``x`` holds NaN or inf (one check per call)."""
        if not bool(torch.isfinite(x).all()):
            raise RuntimeError(
                f"sampling diverged: the sampled {what} are not finite (NaN or inf) with "
                f"guidance_scale={guidance_scale:g}, sampler={sampler!r}, "
                f"prediction_type={self.prediction_type!r} and schedule "
                f"{self.schedule.config}; lower guidance_scale, or check that the schedule "
                f"and prediction_type are the ones the UNet was trained with"
            )
