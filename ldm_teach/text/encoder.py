"""A CLIP-style text encoder, τ_θ in LDM's notation (Radford et al. 2021, arXiv:2103.00020,
Sec. 2.4; Rombach et al. 2022, arXiv:2112.10752, Sec. 3.3): Stable Diffusion's UNet reads a
prompt as the *sequence* of this transformer's last hidden states, by cross-attention.

For token ids w_1..w_L (start token first, end token after the last word, then padding):

    h_0 = E_tok[w] + E_pos[0..L-1]                           (B, L, D) token + position
    h_l = h_{l-1} + Attn(LN1(h_{l-1}), causal mask)          pre-LN block, l = 1..n
    h_l = h_l + W_2 act(W_1 LN2(h_l))                         act = QuickGELU in CLIP
    last_hidden_state = LN_final(h_n)                         (B, L, D): SD's context
    pooled = last_hidden_state[b, first position of the end token]   (B, D): CLIP's text
                                                              embedding (before projection)

QuickGELU is x · sigmoid(1.702 x) (Hendrycks & Gimpel 2016, arXiv:1606.08415, Sec. 2). The
causal mask lets token i attend to tokens ≤ i only, as in GPT: the end token, last, has
read the whole caption, which is why it is pooled.

Layer names mirror ``transformers.CLIPTextModel`` after the ``text_model.`` prefix, so
:func:`state_dict_from_transformers` is a renaming only; the parity test loads a randomly
initialised ``CLIPTextModel`` and gets its hidden states to 1e-5 (the minGPT "loads GPT-2"
test, for CLIP). Shape alphabet: B batch, L tokens, D width, h heads, d = D / h.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ldm_teach.argcheck import check_int, check_real

ACTIVATIONS = ("quick_gelu", "gelu")  # CLIP / SD 1.x, OpenCLIP ViT-H / SD 2.x


@dataclass(frozen=True)
class TextEncoderConfig:
    vocab_size: int = 25  # token ids in [0, vocab_size - 1] (CLIP: 49,408)
    context_length: int = 16  # L, positions (CLIP: 77, ``max_position_embeddings``)
    width: int = 64  # D, ``hidden_size`` (CLIP ViT-L/14 text: 768)
    num_layers: int = 2  # transformer blocks (CLIP: 12)
    num_heads: int = 4  # h, must divide width (CLIP ViT-L/14 text: 12)
    mlp_ratio: int = 4  # MLP inner width = mlp_ratio * width (CLIP: 4)
    activation: str = "quick_gelu"  # "quick_gelu" (CLIP) or "gelu"
    eos_token_id: int = 24  # the end token, whose hidden state is pooled
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        _check_text_config(self)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> TextEncoderConfig:
        return cls(**dict(d))

    @classmethod
    def from_transformers(cls, config: Mapping) -> TextEncoderConfig:
        """The config of a ``transformers.CLIPTextConfig`` (its ``config.json`` as a dict,
        or the config object), e.g. a Stable Diffusion folder's ``text_encoder/``.

        Old CLIP configs (SD 1.x, SD 2.x) say ``eos_token_id = 2``, and transformers then
        pools at the *highest* id of each row, which is the end token 49,407 of CLIP's
        vocabulary; the course encoder pools at the first end token, so such a config is
        read with ``eos_token_id = vocab_size - 1``: the same position.

        Raises:
            ValueError: on an activation other than quick_gelu / gelu, an intermediate size
                that is not a multiple of the width, or a missing field.
        """
        d = config if isinstance(config, Mapping) else config.to_dict()
        try:
            width, inner = int(d["hidden_size"]), int(d["intermediate_size"])
            vocab = int(d["vocab_size"])
            eos = int(d.get("eos_token_id", vocab - 1))
            if eos == 2:  # legacy: pooled at argmax(input_ids), the end token
                eos = vocab - 1
            if inner % width:
                raise ValueError(
                    f"intermediate_size ({inner}) must be a multiple of hidden_size ({width})"
                )
            return cls(
                vocab_size=vocab,
                context_length=int(d["max_position_embeddings"]),
                width=width,
                num_layers=int(d["num_hidden_layers"]),
                num_heads=int(d["num_attention_heads"]),
                mlp_ratio=inner // width,
                activation=d.get("hidden_act", "quick_gelu"),
                eos_token_id=eos,
                layer_norm_eps=float(d.get("layer_norm_eps", 1e-5)),
            )
        except KeyError as err:
            raise ValueError(f"the CLIP text config has no {err.args[0]!r}") from None

    def to_transformers(self):
        """The equivalent ``transformers.CLIPTextConfig`` (needs transformers)."""
        from transformers import CLIPTextConfig

        return CLIPTextConfig(
            vocab_size=self.vocab_size,
            hidden_size=self.width,
            intermediate_size=self.mlp_ratio * self.width,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            max_position_embeddings=self.context_length,
            hidden_act=self.activation,
            layer_norm_eps=self.layer_norm_eps,
            eos_token_id=self.eos_token_id,
            bos_token_id=self.eos_token_id - 1,
            pad_token_id=self.eos_token_id,
        )


def _check_text_config(cfg: TextEncoderConfig) -> None:
    check_int(cfg.vocab_size, "vocab_size", lo=2)
    check_int(cfg.context_length, "context_length", lo=2, hi=4096)
    check_int(cfg.width, "width", lo=1)
    check_int(cfg.num_layers, "num_layers", lo=0)
    check_int(cfg.num_heads, "num_heads", lo=1)
    check_int(cfg.mlp_ratio, "mlp_ratio", lo=1)
    check_int(cfg.eos_token_id, "eos_token_id", lo=0, hi=cfg.vocab_size - 1)
    check_real(cfg.layer_norm_eps, "layer_norm_eps", lo=0.0)
    if cfg.width % cfg.num_heads:
        raise ValueError(f"num_heads ({cfg.num_heads}) must divide width ({cfg.width})")
    if cfg.activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {cfg.activation!r}")


def quick_gelu(x: Tensor) -> Tensor:
    """x · sigmoid(1.702 x), CLIP's approximation of GELU."""
    return x * torch.sigmoid(1.702 * x)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where token i sees tokens 0..i (and, with a padding mask,
    only real tokens). Names as ``CLIPAttention``: q_proj, k_proj, v_proj, out_proj."""

    def __init__(self, width: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        B, L, D = x.shape
        h, d = self.num_heads, D // self.num_heads
        q = self.q_proj(x).view(B, L, h, d).transpose(1, 2)  # (B, h, L, d)
        k = self.k_proj(x).view(B, L, h, d).transpose(1, 2)  # (B, h, L, d)
        v = self.v_proj(x).view(B, L, h, d).transpose(1, 2)  # (B, h, L, d)
        logits = (q @ k.transpose(-2, -1)) / math.sqrt(d)  # (B, h, L, L)
        keep = torch.ones(L, L, dtype=torch.bool, device=x.device).tril()  # (L, L) causal
        if attention_mask is not None:
            keep = keep & attention_mask.bool()[:, None, None, :]  # (B, 1, L, L)
        logits = logits.masked_fill(~keep, torch.finfo(logits.dtype).min)
        weights = torch.softmax(logits, dim=-1)  # (B, h, L, L)
        out = (weights @ v).transpose(1, 2).reshape(B, L, D)  # (B, L, D)
        return self.out_proj(out)


class MLP(nn.Module):
    """W_2 act(W_1 x); names as ``CLIPMLP``: fc1, fc2."""

    def __init__(self, width: int, inner: int, activation: str) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, inner)
        self.fc2 = nn.Linear(inner, width)
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        x = self.fc1(x)
        x = quick_gelu(x) if self.activation == "quick_gelu" else F.gelu(x)
        return self.fc2(x)


class EncoderLayer(nn.Module):
    """One pre-LN block; names as ``CLIPEncoderLayer``."""

    def __init__(self, cfg: TextEncoderConfig) -> None:
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        self.self_attn = CausalSelfAttention(cfg.width, cfg.num_heads)
        self.layer_norm2 = nn.LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        self.mlp = MLP(cfg.width, cfg.mlp_ratio * cfg.width, cfg.activation)

    def forward(self, x: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        x = x + self.self_attn(self.layer_norm1(x), attention_mask)
        return x + self.mlp(self.layer_norm2(x))


@dataclass(frozen=True)
class TextEncoderOutput:
    """last_hidden_state (B, L, D), the UNet's context; pooled (B, D) at the end token."""

    last_hidden_state: Tensor
    pooled: Tensor


class TextEncoder(nn.Module):
    """Token ids -> per-token hidden states and a pooled caption embedding.

    Args:
        config: a :class:`TextEncoderConfig`.
    Shapes:
        input_ids (B, L) int64 with L <= context_length -> TextEncoderOutput with
        last_hidden_state (B, L, width) and pooled (B, width), float32.
    """

    def __init__(self, config: TextEncoderConfig) -> None:
        super().__init__()
        if not isinstance(config, TextEncoderConfig):
            raise TypeError(f"config must be a TextEncoderConfig, got {type(config).__name__}")
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.width)
        self.position_embedding = nn.Embedding(config.context_length, config.width)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.num_layers))
        self.final_layer_norm = nn.LayerNorm(config.width, eps=config.layer_norm_eps)
        nn.init.normal_(self.token_embedding.weight, std=0.02)  # CLIP's initialisation
        nn.init.normal_(self.position_embedding.weight, std=0.01)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> TextEncoderOutput:
        """Encode token ids (see the module docstring for the equations).

        Args:
            input_ids: (B, L) int64, each in [0, vocab_size - 1], L in [1, context_length];
                every row must hold the end token (``eos_token_id``), which is pooled.
            attention_mask: optional (B, L), 1 = real token, 0 = padding. Stable Diffusion
                passes none (padding is end tokens, and the causal mask already keeps
                every token before the first end token from seeing the padding).
        Returns:
            :class:`TextEncoderOutput`.
        Raises:
            ValueError: on a bad shape or dtype, an id out of range, a row without the end
                token, or a mask of another shape.
        """
        self._check_inputs(input_ids, attention_mask)
        B, L = input_ids.shape
        positions = torch.arange(L, device=input_ids.device)  # (L,)
        h = self.token_embedding(input_ids) + self.position_embedding(positions)  # (B, L, D)
        for layer in self.layers:
            h = layer(h, attention_mask)
        h = self.final_layer_norm(h)  # (B, L, D)
        first_end = (input_ids == self.config.eos_token_id).int().argmax(dim=-1)  # (B,)
        pooled = h[torch.arange(B, device=h.device), first_end]  # (B, D)
        return TextEncoderOutput(last_hidden_state=h, pooled=pooled)

    def _check_inputs(self, input_ids: Tensor, attention_mask: Tensor | None) -> None:
        cfg = self.config
        if not isinstance(input_ids, Tensor) or input_ids.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"input_ids must be an int64 tensor, got {input_ids!r:.80}")
        if input_ids.ndim != 2 or not 1 <= input_ids.shape[1] <= cfg.context_length:
            raise ValueError(
                f"input_ids must have shape (B, L) with 1 <= L <= context_length="
                f"{cfg.context_length}, got {tuple(input_ids.shape)}"
            )
        if input_ids.numel() and (
            int(input_ids.min()) < 0 or int(input_ids.max()) >= cfg.vocab_size
        ):
            raise ValueError(
                f"input_ids must be in [0, {cfg.vocab_size - 1}] (vocab_size), got range "
                f"[{int(input_ids.min())}, {int(input_ids.max())}]"
            )
        missing = ~(input_ids == cfg.eos_token_id).any(dim=-1)
        if bool(missing.any()):
            raise ValueError(
                f"every row of input_ids must hold the end token {cfg.eos_token_id} "
                f"(it is pooled); rows {missing.nonzero().flatten().tolist()} do not"
            )
        if attention_mask is not None and (
            not isinstance(attention_mask, Tensor) or attention_mask.shape != input_ids.shape
        ):
            raise ValueError(
                f"attention_mask must be a tensor of input_ids' shape {tuple(input_ids.shape)}"
            )


def state_dict_from_transformers(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename a ``transformers.CLIPTextModel`` state dict to :class:`TextEncoder`'s keys.

    ``text_model.embeddings.token_embedding.weight`` -> ``token_embedding.weight``,
    ``text_model.embeddings.position_embedding.weight`` -> ``position_embedding.weight``,
    ``text_model.encoder.layers.{i}.*`` -> ``layers.{i}.*``, and
    ``text_model.final_layer_norm.*`` -> ``final_layer_norm.*``. The ``position_ids``
    buffer is dropped. Tensors are not copied.

    Raises:
        ValueError: on a key that is none of these (e.g. a vision tower's).
    """
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        k = key.removeprefix("text_model.")
        if k.endswith("position_ids"):
            continue
        if k.startswith("embeddings."):
            k = k.removeprefix("embeddings.")
        elif k.startswith("encoder.layers."):
            k = k.removeprefix("encoder.")
        elif not k.startswith("final_layer_norm."):
            raise ValueError(f"not a CLIPTextModel key: {key!r}")
        out[k] = value
    return out
