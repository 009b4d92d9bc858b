"""VQ-regularised autoencoder (VQ-VAE; van den Oord et al. 2017, arXiv:1711.00937), the
other first stage of a Latent Diffusion Model (Rombach et al. 2022, arXiv:2112.10752,
Sec. 3.1 and Appendix G: "VQ-reg."); the encoder and decoder are those of the KL
autoencoder, after VQGAN (Esser et al. 2021, arXiv:2012.09841).

    E: x (B, C_img, H, W)  ->  z_e (B, D, H/f, W/f)          D = code_dim
    q: z_e                 ->  z_q = e_k,  k = argmin_j ||z_e - e_j||^2  (indices (B, H/f, W/f))
    D: z_q                 ->  x_hat (B, C_img, H, W)
    f = 2^(len(channel_mult) - 1)                           downsampling factor

Training objective used here (van den Oord Eq. 3 with an L1 reconstruction term, as the
course's KL autoencoder uses; VQGAN Eq. 4 uses squared error and adds perceptual and
adversarial terms, which arrive with section 10.2):

    L = |x - D(z_q_st)|_1 + ||sg[z_e] - e||^2 + beta * ||z_e - sg[e]||^2

the last two terms computed by :class:`~ldm_teach.autoencoders.quantizer.VectorQuantizer`
(mean-reduced; with EMA codebook updates the middle term is dropped). Unlike the KL
autoencoder, the latent is a grid of integers: ``encode_to_indices`` turns an image into
K-ary symbols, ``decode_indices`` turns them back.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn

from ldm_teach.autoencoders.input_checks import check_image, check_latent
from ldm_teach.autoencoders.kl_vae import AutoencoderKLConfig, BackboneConfig, Decoder, Encoder
from ldm_teach.autoencoders.quantizer import (
    QuantizerOutput,
    VectorQuantizer,
    check_quantizer_args,
)


@dataclass(frozen=True)
class VQVAEConfig(BackboneConfig):
    """Configuration of :class:`VQVAE`: the backbone fields of
    :class:`~ldm_teach.autoencoders.kl_vae.BackboneConfig` (shared with
    :class:`~ldm_teach.autoencoders.kl_vae.AutoencoderKLConfig`) and the codebook's.

    Raises ValueError at construction if the widths cannot be group-normalised or a field
    is out of range.
    """

    num_codes: int = 512  # K, codebook size (van den Oord: 512; LDM's VQ-f4: 8192)
    code_dim: int = 4  # D, width of a code = latent channels (LDM's VQ-f4: 3)
    commitment_cost: float = 0.25  # beta of the commitment term (paper: 0.25)
    use_ema: bool = False  # codebook by EMA (Appendix A.1) instead of by gradient
    ema_decay: float = 0.99  # gamma of the EMA updates (paper: 0.99)
    dead_code_threshold: float = 1.0  # usage count below which a code may be restarted

    def __post_init__(self) -> None:
        # quantiser fields first, so that code_dim's error names code_dim
        check_quantizer_args(
            self.num_codes,
            self.code_dim,
            self.commitment_cost,
            self.ema_decay,
            self.dead_code_threshold,
        )
        self.backbone_config()  # validates the encoder/decoder fields

    def backbone_config(self) -> AutoencoderKLConfig:
        """The shared encoder/decoder's configuration: the backbone fields with
        latent_channels = D.

        Raises:
            ValueError: as :class:`AutoencoderKLConfig` does, naming the bad field.
        """
        backbone = {f.name: getattr(self, f.name) for f in fields(BackboneConfig)}
        return AutoencoderKLConfig(**backbone, latent_channels=self.code_dim)


class VQVAE(nn.Module):
    """The VQ autoencoder: ``encode`` gives z_e, ``quantize`` snaps it to the codebook,
    ``decode`` maps z_q back to pixels.

    Args:
        cfg: a :class:`VQVAEConfig`.
    Shapes:
        x: (B, in_channels, H, W), float, values in [-1, 1]; H and W divisible by f.
        z_e, z_q: (B, code_dim, H/f, W/f); indices: (B, H/f, W/f) int64 in [0, num_codes-1].
    """

    def __init__(self, cfg: VQVAEConfig) -> None:
        super().__init__()
        self.config = cfg
        backbone = cfg.backbone_config()
        self.encoder = Encoder(backbone, out_channels=cfg.code_dim)
        self.decoder = Decoder(backbone)
        # 1x1 convolutions before and after the bottleneck, as in the LDM VQModel.
        self.quant_conv = nn.Conv2d(cfg.code_dim, cfg.code_dim, 1)
        self.quantizer = VectorQuantizer(
            cfg.num_codes,
            cfg.code_dim,
            commitment_cost=cfg.commitment_cost,
            use_ema=cfg.use_ema,
            ema_decay=cfg.ema_decay,
            dead_code_threshold=cfg.dead_code_threshold,
        )
        self.post_quant_conv = nn.Conv2d(cfg.code_dim, cfg.code_dim, 1)

    @property
    def downsample_factor(self) -> int:
        return self.config.downsample_factor

    def _check_image(self, x: Tensor) -> None:
        dtype = self.quant_conv.weight.dtype
        check_image(x, self.config.in_channels, self.downsample_factor, dtype)

    def encode(self, x: Tensor) -> Tensor:
        """z_e = E(x), before quantisation: (B, C_img, H, W) in [-1, 1] -> (B, D, H/f, W/f).

        Raises:
            ValueError: if x is not a finite, non-empty float tensor of the parameters'
                dtype (any float dtype under autocast), or has the wrong channel count or
                a size not divisible by f. (A NaN image would otherwise map to code 0.)
        """
        self._check_image(x)
        return self.quant_conv(self.encoder(x))

    def quantize(self, z_e: Tensor) -> QuantizerOutput:
        """Snap z_e to the codebook: (z_q straight-through, indices, vq loss, stats); see
        :meth:`VectorQuantizer.forward` (updates usage counts, and the EMA codebook in
        training mode)."""
        return self.quantizer(z_e)

    def decode(self, z_q: Tensor) -> Tensor:
        """x_hat = D(z_q): (B, D, h, w) -> (B, C_img, h*f, w*f), roughly in [-1, 1].

        Raises:
            ValueError: if z_q is not a non-empty float (B, code_dim, h, w) tensor of the
                parameters' dtype (any float dtype under autocast).
        """
        check_latent(z_q, self.config.code_dim, self.post_quant_conv.weight.dtype, name="z_q")
        return self.decoder(self.post_quant_conv(z_q))

    def forward(self, x: Tensor) -> tuple[Tensor, QuantizerOutput]:
        """Reconstruct x through the codebook: returns (x_hat, quantizer output)."""
        quant = self.quantize(self.encode(x))
        return self.decode(quant.z_q), quant

    @torch.no_grad()
    def encode_to_indices(self, x: Tensor) -> Tensor:
        """The discrete code of an image: (B, C_img, H, W) -> indices (B, H/f, W/f) int64.

        Changes no state (usage counts and codebook stay as they are).

        Raises:
            ValueError: as :meth:`encode` (non-finite, empty, wrong dtype, shape or size).
        """
        return self.quantizer.nearest_code(self.encode(x))

    def decode_indices(self, indices: Tensor) -> Tensor:
        """Pixels from codes: indices (B, h, w) int in [0, K-1] -> x_hat (B, C_img, h*f, w*f).

        Raises:
            ValueError: if indices are not an integer (B, h, w) tensor in [0, K-1].
        """
        return self.decode(self.quantizer.lookup(indices))

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Reconstruction through the codes, D(e_k(x)), clamped to [-1, 1]; changes no state."""
        return self.decode_indices(self.encode_to_indices(x)).clamp(-1.0, 1.0)


def vq_vae_loss(model: VQVAE, x: Tensor) -> tuple[Tensor, dict[str, float]]:
    """L1 reconstruction + the quantiser's loss (van den Oord et al. 2017, Eq. 3, with L1
    in place of the log-likelihood; Rombach et al. 2022, Sec. 3.1).

    Side effects: the model's forward pass updates the codebook usage counts (and, in
    training mode with ``use_ema``, the codebook).

    Args:
        model: the VQ autoencoder.
        x: images (B, C, H, W) in [-1, 1].
    Returns:
        (loss scalar, {"rec": mean |x - x_hat|, "vq": quantiser loss, "perplexity": of this
        batch's code usage, "usage": fraction of codes this batch used}).
    Raises:
        ValueError: as :meth:`VQVAE.encode` (non-finite, empty, wrong dtype, shape or size).
    """
    x_hat, quant = model(x)
    rec = (x - x_hat).abs().mean()
    loss = rec + quant.loss
    return loss, {
        "rec": float(rec.detach()),
        "vq": float(quant.loss.detach()),
        "perplexity": quant.stats["perplexity"],
        "usage": quant.stats["usage"],
    }
