"""KL-regularised autoencoder, the first stage of a Latent Diffusion Model
(Rombach et al. 2022, arXiv:2112.10752, Sec. 3.1 and Appendix G; architecture after
Esser et al. 2021, arXiv:2012.09841).

    E: x (B, C_img, H, W)  ->  q(z|x) = N(mu, sigma^2),  z: (B, c, H/f, W/f)
    D: z                   ->  x_hat (B, C_img, H, W)
    f = 2^(len(channel_mult) - 1)                      downsampling factor

Training objective used here (Sec. 3.1, without the perceptual and adversarial terms,
which arrive with section 10.2):

    L = |x - D(z)|_1 + kl_weight * KL(q(z|x) || N(0, I)),   z ~ q(z|x)

with the KL summed over latent elements and averaged over the batch. The small
``kl_weight`` (1e-6 in the paper) keeps the latent close to, but not exactly, a unit
Gaussian, which is why stage 2 rescales it by ``scale_factor`` (1 / std of the latents).

Half precision. float16 overflows above 65504, and the decoder's activations of large
autoencoders (the Stable Diffusion VAEs) exceed that, so a float16 decode returns NaN.
diffusers marks such models with ``force_upcast`` in their config; here
:attr:`AutoencoderKL.force_upcast` does the same: with float16 parameters, encode and decode
run in float32 (on float32 copies of the weights) and return float32. Without it, a float16
decode whose output is not finite raises a FloatingPointError instead of returning NaN.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ldm_teach.autoencoders.distributions import DiagonalGaussian
from ldm_teach.autoencoders.input_checks import (  # noqa: F401  (kl_vae's API too)
    MAX_ABS_IMAGE,
    check_dtype,
    check_image,
    check_latent,
)
from ldm_teach.config import ConfigDict
from ldm_teach.nn import Downsample, ResnetBlock, SelfAttention2d, Upsample, group_norm
from ldm_teach.nn.norm import check_widths


@dataclass(frozen=True)
class BackboneConfig(ConfigDict):
    """The encoder/decoder fields every course autoencoder shares (KL and VQ)."""

    in_channels: int = 3  # image channels (1 for digits, 3 for photos)
    base_channels: int = 64  # width of the first level
    channel_mult: tuple[int, ...] = (1, 2, 2)  # width multiplier per level; f = 2^(levels-1)
    num_res_blocks: int = 1  # ResNet blocks per level in the encoder (decoder: one more)
    norm_groups: int = 32  # GroupNorm groups; must divide every width
    mid_attention: bool = True  # self-attention in the middle block (lowest resolution)
    dropout: float = 0.0  # dropout inside ResNet blocks

    @property
    def downsample_factor(self) -> int:
        """f: how much H and W shrink from image to latent."""
        return 2 ** (len(self.channel_mult) - 1)


@dataclass(frozen=True)
class AutoencoderKLConfig(BackboneConfig):
    """Configuration of :class:`AutoencoderKL`: the backbone fields and ``latent_channels``.

    Raises ValueError at construction if the widths cannot be group-normalised or a field
    is out of range.
    """

    latent_channels: int = 4  # c, channels of z

    def __post_init__(self) -> None:
        _check_backbone(self, self.latent_channels)


def _check_backbone(cfg: BackboneConfig, latent_channels: int) -> None:
    """ValueError naming the first backbone field of ``cfg`` out of range."""
    if type(cfg.mid_attention) is not bool:
        raise ValueError(f"mid_attention must be a bool, got {cfg.mid_attention!r}")
    if cfg.in_channels <= 0:
        raise ValueError(f"in_channels must be positive, got {cfg.in_channels}")
    if latent_channels <= 0:
        raise ValueError(f"latent_channels must be positive, got {latent_channels}")
    if not cfg.channel_mult or any(m <= 0 for m in cfg.channel_mult):
        raise ValueError(f"channel_mult must be non-empty positive ints, got {cfg.channel_mult}")
    if cfg.num_res_blocks < 1:
        raise ValueError(f"num_res_blocks must be >= 1, got {cfg.num_res_blocks}")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {cfg.dropout}")
    check_widths(cfg.base_channels, cfg.channel_mult, cfg.norm_groups)


def _call_float32(module: nn.Module, x: Tensor) -> Tensor:
    """module(x) computed in float32, with float32 copies of the module's parameters and
    buffers; the module itself is left as it is (gradients still reach its parameters)."""
    state = {
        name: t.float() if t.is_floating_point() else t
        for name, t in itertools.chain(module.named_parameters(), module.named_buffers())
    }
    return torch.func.functional_call(module, state, (x.float(),))


class Encoder(nn.Module):
    """x (B, C_img, H, W) -> moments (B, 2c, H/f, W/f): mean and logvar stacked.

    ``out_channels`` overrides the output width 2c; the VQ-VAE passes its code_dim D, since
    it needs one point z_e per position rather than a mean and a log-variance.
    """

    def __init__(self, cfg: AutoencoderKLConfig, out_channels: int | None = None) -> None:
        super().__init__()
        widths = [cfg.base_channels * m for m in cfg.channel_mult]
        g = cfg.norm_groups
        self.conv_in = nn.Conv2d(cfg.in_channels, widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        ch = widths[0]
        for level, width in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(cfg.num_res_blocks):
                blocks.append(ResnetBlock(ch, width, dropout=cfg.dropout, norm_groups=g))
                ch = width
            stage = nn.Module()
            stage.blocks = blocks
            stage.downsample = (
                Downsample(ch, pad_right_bottom=True) if level < len(widths) - 1 else nn.Identity()
            )
            self.down.append(stage)
        self.mid_block1 = ResnetBlock(ch, ch, dropout=cfg.dropout, norm_groups=g)
        self.mid_attn = SelfAttention2d(ch, 1, g) if cfg.mid_attention else nn.Identity()
        self.mid_block2 = ResnetBlock(ch, ch, dropout=cfg.dropout, norm_groups=g)
        self.norm_out = group_norm(ch, g)
        if out_channels is None:
            out_channels = 2 * cfg.latent_channels
        self.conv_out = nn.Conv2d(ch, out_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv_in(x)
        for stage in self.down:
            for block in stage.blocks:
                h = block(h)
            h = stage.downsample(h)
        h = self.mid_block2(self.mid_attn(self.mid_block1(h)))
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """z (B, c, h, w) -> x_hat (B, C_img, h*f, w*f), unbounded (train targets are in [-1, 1])."""

    def __init__(self, cfg: AutoencoderKLConfig) -> None:
        super().__init__()
        widths = [cfg.base_channels * m for m in cfg.channel_mult]
        g = cfg.norm_groups
        ch = widths[-1]
        self.conv_in = nn.Conv2d(cfg.latent_channels, ch, 3, padding=1)
        self.mid_block1 = ResnetBlock(ch, ch, dropout=cfg.dropout, norm_groups=g)
        self.mid_attn = SelfAttention2d(ch, 1, g) if cfg.mid_attention else nn.Identity()
        self.mid_block2 = ResnetBlock(ch, ch, dropout=cfg.dropout, norm_groups=g)
        self.up = nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            blocks = nn.ModuleList()
            for _ in range(cfg.num_res_blocks + 1):
                blocks.append(ResnetBlock(ch, width, dropout=cfg.dropout, norm_groups=g))
                ch = width
            stage = nn.Module()
            stage.blocks = blocks
            stage.upsample = Upsample(ch) if level > 0 else nn.Identity()
            self.up.append(stage)
        self.norm_out = group_norm(ch, g)
        self.conv_out = nn.Conv2d(ch, cfg.in_channels, 3, padding=1)

    def forward(self, z: Tensor) -> Tensor:
        h = self.conv_in(z)
        h = self.mid_block2(self.mid_attn(self.mid_block1(h)))
        for stage in self.up:
            for block in stage.blocks:
                h = block(h)
            h = stage.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class AutoencoderKL(nn.Module):
    """The KL autoencoder: ``encode`` gives q(z|x), ``decode`` maps z back to pixels.

    Args:
        cfg: an :class:`AutoencoderKLConfig`.
        force_upcast: with float16 parameters, run encode and decode in float32 (module
            docstring); diffusers' config flag of the same name. No effect otherwise.
        scaling_factor: the latent scale a pretrained model was published with (diffusers'
            ``scaling_factor``, 0.18215 for Stable Diffusion 1.x), a finite number > 0, or
            None. Informational: pass it as ``LatentDiffusion``'s ``scale_factor``; encode
            and decode do not apply it.
    Shapes:
        x: (B, in_channels, H, W), float, values in [-1, 1]; H and W divisible by f.
        z: (B, latent_channels, H/f, W/f).
    Raises:
        ValueError: if ``force_upcast`` is not a bool or ``scaling_factor`` is not None or
            a finite positive number.
    """

    def __init__(
        self,
        cfg: AutoencoderKLConfig,
        *,
        force_upcast: bool = False,
        scaling_factor: float | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(force_upcast, bool):
            raise ValueError(f"force_upcast must be a bool, got {force_upcast!r}")
        if scaling_factor is not None and (
            isinstance(scaling_factor, bool)
            or not isinstance(scaling_factor, Real)
            or not 0 < scaling_factor < float("inf")
        ):
            raise ValueError(
                f"scaling_factor must be a finite positive number or None, got {scaling_factor!r}"
            )
        self.config = cfg
        self.force_upcast = force_upcast
        self.scaling_factor = None if scaling_factor is None else float(scaling_factor)
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        # 1x1 convolutions on the moments and the latent, as in the LDM/SD autoencoder.
        self.quant_conv = nn.Conv2d(2 * cfg.latent_channels, 2 * cfg.latent_channels, 1)
        self.post_quant_conv = nn.Conv2d(cfg.latent_channels, cfg.latent_channels, 1)

    @property
    def downsample_factor(self) -> int:
        return self.config.downsample_factor

    @property
    def _param_dtype(self) -> torch.dtype:
        return self.post_quant_conv.weight.dtype

    @property
    def _upcast(self) -> bool:
        """True when encode/decode run in float32: force_upcast and float16 parameters."""
        return self.force_upcast and self._param_dtype == torch.float16

    def _check_image(self, x: Tensor) -> None:
        dtype = None if self._upcast else self._param_dtype
        check_image(x, self.config.in_channels, self.downsample_factor, dtype)

    def encode(self, x: Tensor) -> DiagonalGaussian:
        """q(z|x) for images x in [-1, 1], (B, C_img, H, W) -> Gaussian over (B, c, H/f, W/f).

        The Gaussian's tensors have the parameters' dtype (float32 when upcasting).

        Raises:
            ValueError: if x is not a finite, non-empty float tensor of the parameters'
                dtype (any float dtype when upcasting, or under autocast), or has the
                wrong channel count or a size not divisible by f.
        """
        self._check_image(x)
        if self._upcast:
            moments = _call_float32(self.quant_conv, _call_float32(self.encoder, x))
        else:
            moments = self.quant_conv(self.encoder(x))
        return DiagonalGaussian.from_moments(moments)

    def decode(self, z: Tensor) -> Tensor:
        """x_hat = D(z): (B, c, h, w) -> (B, C_img, h*f, w*f), roughly in [-1, 1].

        In the parameters' dtype, or float32 when upcasting (``force_upcast`` with float16
        parameters).

        Raises:
            ValueError: if z is not a non-empty, finite float (B, latent_channels, h, w)
                tensor of the parameters' dtype (any float dtype when upcasting, or under
                autocast); NaN or inf latents would decode to NaN images silently.
            FloatingPointError: if the decode gives NaN or inf from a finite z (an overflow:
                in float16 without upcasting, set ``force_upcast = True`` or use float32; in
                float32, latents of absurd magnitude such as 1e20).
        """
        upcast = self._upcast
        check_latent(z, self.config.latent_channels, None if upcast else self._param_dtype)
        if not bool(torch.isfinite(z).all()):
            raise ValueError(
                f"z must be finite, got {int((~torch.isfinite(z)).sum())} NaN or inf values "
                f"of {z.numel()} (e.g. from a diverged sampler or a bad scale_factor)"
            )
        if upcast:
            x_hat = _call_float32(self.decoder, _call_float32(self.post_quant_conv, z))
        else:
            x_hat = self.decoder(self.post_quant_conv(z))
        if not bool(torch.isfinite(x_hat).all()):
            if x_hat.dtype == torch.float16:
                raise FloatingPointError(
                    "the float16 decode overflowed to NaN/inf; with float16 parameters set "
                    "model.force_upcast = True (decode in float32, as diffusers does for "
                    "models whose config sets force_upcast), or decode in float32 (no float16 "
                    "autocast)"
                )
            raise FloatingPointError(
                f"decoding overflowed to NaN/inf: z has values up to "
                f"{float(z.detach().abs().max()):g} in magnitude, far beyond the latents the "
                "encoder produces (check the scale_factor, or a diverged sampler)"
            )
        return x_hat

    def forward(
        self, x: Tensor, sample_posterior: bool = True, generator: torch.Generator | None = None
    ) -> tuple[Tensor, DiagonalGaussian]:
        """Reconstruct x: returns (x_hat, posterior); z is sampled or, if not, the mode."""
        posterior = self.encode(x)
        z = posterior.sample(generator) if sample_posterior else posterior.mode()
        return self.decode(z), posterior

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Deterministic reconstruction D(mu(x)), clamped to [-1, 1]."""
        return self.decode(self.encode(x).mode()).clamp(-1.0, 1.0)


def autoencoder_kl_loss(
    model: AutoencoderKL,
    x: Tensor,
    kl_weight: float = 1e-6,
    generator: torch.Generator | None = None,
    perceptual_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    perceptual_weight: float = 0.0,
) -> tuple[Tensor, dict[str, float]]:
    """L1 reconstruction + ``kl_weight`` * KL (+ ``perceptual_weight`` * a perceptual
    distance), the KL summed over latent elements and averaged over the batch (Rombach et
    al. 2022, Sec. 3.1 and Appendix G):

        L = mean |x - D(z)| + kl_weight * mean KL(q(z|x) || N(0, I)) + w_p * mean d(x, D(z))

    with z ~ q(z|x) drawn with ``generator``. The course's recipes train every KL
    autoencoder with this function; :class:`~ldm_teach.autoencoders.losses.AutoencoderLoss`
    is the same objective plus the adversarial term of Sec. 10.2.4.

    Args:
        model: the autoencoder.
        x: images (B, C, H, W) in [-1, 1].
        kl_weight: weight of the KL term, >= 0 (1e-6 in the paper).
        generator: seeds the posterior sample.
        perceptual_fn: ``d(x, x_hat) -> (B,)`` distances (e.g. ``FeatureDistance`` or
            ``LPIPSMetric``), or None for no perceptual term.
        perceptual_weight: its weight w_p, >= 0; used only with ``perceptual_fn``.
    Returns:
        (loss scalar, {"rec": mean |x - x_hat|, "kl": mean KL per image in nats, and
        "perceptual": mean d(x, x_hat) when perceptual_fn is given}).
    Raises:
        ValueError: if ``kl_weight`` or ``perceptual_weight`` is negative or not finite, or
            x is not what :meth:`AutoencoderKL.encode` accepts.
    """
    if not kl_weight >= 0 or kl_weight == float("inf"):  # NaN fails >= 0
        raise ValueError(f"kl_weight must be a finite number >= 0, got {kl_weight}")
    if not perceptual_weight >= 0 or perceptual_weight == float("inf"):
        raise ValueError(f"perceptual_weight must be a finite number >= 0, got {perceptual_weight}")
    x_hat, posterior = model(x, sample_posterior=True, generator=generator)
    rec = (x - x_hat).abs().mean()
    kl = posterior.kl().mean()
    loss = rec + kl_weight * kl
    parts = {"rec": float(rec.detach()), "kl": float(kl.detach())}
    if perceptual_fn is not None:
        perceptual = perceptual_fn(x, x_hat).mean()
        loss = loss + perceptual_weight * perceptual
        parts["perceptual"] = float(perceptual.detach())
    return loss, parts
