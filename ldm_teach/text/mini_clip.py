"""A mini-CLIP: contrastive language-image pre-training at the size of a laptop
(Radford et al. 2021, arXiv:2103.00020, Sec. 2.3 and Fig. 3).

A text encoder f_T (:class:`~ldm_teach.text.TextEncoder`, pooled at the end token) and an
image encoder f_I (a small CNN) are trained so that a caption and its image map to nearby
unit vectors. For a batch of B (image, caption) pairs:

    u_i = normalize(W_I f_I(x_i)),   w_j = normalize(W_T f_T(c_j))      (B, P) embeddings
    logits_ij = exp(s) · u_i · w_j                                        (B, B), s learned
    L = ( CE(logits, diag) + CE(logits^T, diag) ) / 2                     symmetric InfoNCE

(CLIP Fig. 3; the temperature τ = exp(-s) starts at 0.07 and exp(s) is clipped at 100).
Stable Diffusion keeps such a text encoder *frozen* and feeds its per-token hidden states
to the UNet (Sec. 10.4.2 of the course).

Shape alphabet: B batch, P projection width, D text width, L tokens.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ldm_teach.argcheck import check_int
from ldm_teach.text.encoder import TextEncoder, TextEncoderConfig

#: exp(s) is clipped here, as in CLIP ("to prevent scaling the logits by more than 100").
MAX_LOGIT_SCALE = 100.0


@dataclass(frozen=True)
class MiniCLIPConfig:
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    image_channels: int = 3  # RGB
    image_widths: tuple[int, ...] = (32, 64, 128)  # CNN widths; each level halves H and W
    embed_dim: int = 64  # P, the shared embedding width
    init_temperature: float = 0.07  # τ at initialisation (CLIP)

    def __post_init__(self) -> None:
        if not isinstance(self.text, TextEncoderConfig):
            raise TypeError(f"text must be a TextEncoderConfig, got {type(self.text).__name__}")
        check_int(self.image_channels, "image_channels", lo=1)
        check_int(self.embed_dim, "embed_dim", lo=1)
        if not self.image_widths or not all(
            isinstance(w, int) and w > 0 for w in self.image_widths
        ):
            raise ValueError(f"image_widths must be positive ints, got {self.image_widths!r}")
        if not 0 < self.init_temperature <= 1:
            raise ValueError(f"init_temperature must be in (0, 1], got {self.init_temperature!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["image_widths"] = list(self.image_widths)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> MiniCLIPConfig:
        d = dict(d)
        return cls(
            **{
                **d,
                "text": TextEncoderConfig(**d["text"]),
                "image_widths": tuple(d["image_widths"]),
            }
        )


class ImageEncoder(nn.Module):
    """A small CNN: per level conv 3x3 stride 2 + GroupNorm + SiLU, then global average
    pooling. (B, C, H, W) in [-1, 1] -> (B, widths[-1])."""

    def __init__(self, in_channels: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, stride=2, padding=1), nn.GroupNorm(8, w), nn.SiLU()]
            layers += [nn.Conv2d(w, w, 3, padding=1), nn.GroupNorm(8, w), nn.SiLU()]
            c = w
        self.net = nn.Sequential(*layers)
        self.out_dim = c

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).mean(dim=(2, 3))  # (B, widths[-1])


def clip_loss(logits: Tensor, same: Tensor | None = None) -> Tensor:
    """Symmetric InfoNCE of a (B, B) similarity matrix whose diagonal holds the true pairs
    (CLIP Fig. 3): the mean of the image->text and text->image cross-entropies.

    Args:
        logits: (B, B) image-to-text logits, row i = image i.
        same: optional (B, B) bool, True where caption j equals caption i. With only 216
            captions a batch often holds one caption twice; CLIP's one-hot target would
            then push apart two correct pairs, so the target of row i is spread evenly over
            the columns with the same caption (a soft cross-entropy; with ``same`` the
            identity this is CLIP's loss exactly).
    Raises:
        ValueError: unless ``logits`` is square with B >= 2 (one pair has no negatives)
            and ``same`` is None or a (B, B) bool tensor with a true diagonal.
    """
    if logits.ndim != 2 or logits.shape[0] != logits.shape[1] or logits.shape[0] < 2:
        raise ValueError(f"logits must be (B, B) with B >= 2, got {tuple(logits.shape)}")
    B = logits.shape[0]
    if same is None:
        target = torch.arange(B, device=logits.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    if same.dtype != torch.bool or same.shape != (B, B) or not bool(same.diagonal().all()):
        raise ValueError("same must be a (B, B) bool tensor with a true diagonal")
    target = same.float() / same.sum(1, keepdim=True)  # (B, B), rows sum to 1; symmetric
    i2t = -(target * F.log_softmax(logits, dim=1)).sum(1).mean()
    t2i = -(target * F.log_softmax(logits.T, dim=1)).sum(1).mean()
    return 0.5 * (i2t + t2i)


class MiniCLIP(nn.Module):
    """Text encoder + image encoder + two projections and a learned temperature.

    Args:
        config: a :class:`MiniCLIPConfig`.
    """

    def __init__(self, config: MiniCLIPConfig) -> None:
        super().__init__()
        if not isinstance(config, MiniCLIPConfig):
            raise TypeError(f"config must be a MiniCLIPConfig, got {type(config).__name__}")
        self.config = config
        self.text_encoder = TextEncoder(config.text)
        self.image_encoder = ImageEncoder(config.image_channels, config.image_widths)
        self.text_projection = nn.Linear(config.text.width, config.embed_dim, bias=False)
        self.image_projection = nn.Linear(self.image_encoder.out_dim, config.embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / config.init_temperature)))

    def encode_text(self, input_ids: Tensor) -> Tensor:
        """(B, L) token ids -> (B, P) unit vectors."""
        pooled = self.text_encoder(input_ids).pooled  # (B, D)
        return F.normalize(self.text_projection(pooled), dim=-1)

    def encode_image(self, images: Tensor) -> Tensor:
        """(B, C, H, W) images in [-1, 1] -> (B, P) unit vectors."""
        return F.normalize(self.image_projection(self.image_encoder(images)), dim=-1)

    def forward(self, images: Tensor, input_ids: Tensor) -> Tensor:
        """The (B, B) logits exp(s) u_i · w_j of B images against B captions."""
        scale = self.logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)
        return scale * self.encode_image(images) @ self.encode_text(input_ids).T
