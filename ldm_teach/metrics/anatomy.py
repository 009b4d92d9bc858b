"""The anatomy of a diffusion model: where its parameters sit, what one evaluation costs.

Section 10.4.1 opens Stable Diffusion (Rombach et al. 2022, arXiv:2112.10752) and SDXL
(Podell et al. 2023, arXiv:2307.01952) on the table and counts: parameters per component
and per kind of block, weight memory in fp32 and fp16, and the FLOPs of one UNet
evaluation and one VAE decode. The same functions measure the course's own
``ldm_teach.models.UNet``, ``ldm_teach.text.TextEncoder`` and
``ldm_teach.autoencoders.AutoencoderKL``: same table, same code.

- :func:`count_parameters` and :func:`memory_bytes`: N and N x bytes per element;
- :func:`parameters_by_block`: N split into :data:`BLOCK_TYPES`, each parameter once;
- :func:`parameters_by_level`: a UNet's N split into its down levels, middle and up levels;
- :func:`forward_flops` (:func:`flops_by_operator`): FLOPs of one call, by
  ``torch.utils.flop_counter.FlopCounterMode``, which works on meta tensors (networks
  built with ``torch.device("meta")`` hold no weights, so counting SDXL costs no memory);
- :func:`anatomy_row` / :func:`anatomy_rows`: all of it as rows for ``ldm_teach.viz.table``.

This module takes networks as arguments: building the published ones from their configs is
:mod:`ldm_teach.interop`'s job (``reference_evaluations`` gives each with its inputs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ldm_teach.argcheck import check_int
from ldm_teach.metrics.weights import parameter_count
from ldm_teach.nn import (
    BasicTransformerBlock,
    CrossAttention,
    Downsample,
    FeedForward,
    ResnetBlock,
    SelfAttention2d,
    SpatialTransformer,
    Upsample,
)
from ldm_teach.text.encoder import MLP, CausalSelfAttention, EncoderLayer

__all__ = [
    "BLOCK_TYPES",
    "anatomy_row",
    "anatomy_rows",
    "count_parameters",
    "flops_by_operator",
    "forward_flops",
    "memory_bytes",
    "parameters_by_block",
    "parameters_by_level",
]

#: the kinds of block :func:`parameters_by_block` sorts parameters into, in table order
BLOCK_TYPES = (
    "ResNet",
    "self-attention",
    "cross-attention",
    "feed-forward",
    "norm + proj",
    "up/down sampling",
    "time embedding",
    "embeddings",
    "conv in/out",
    "other",
)

# Each kind: the course's classes, and the class names of diffusers' and transformers'
# blocks. Those two are matched by name (anywhere in the class's MRO) so that measuring the
# course's networks does not import diffusers (seconds) and this module does not depend on
# it; the names are the libraries' public class names.
_KINDS: tuple[tuple[str, tuple[type, ...], frozenset[str]], ...] = (
    ("ResNet", (ResnetBlock,), frozenset({"ResnetBlock2D"})),
    (
        "attention",  # split into self- and cross-attention by _attention_kind
        (CrossAttention, SelfAttention2d, CausalSelfAttention),
        frozenset({"Attention", "CLIPAttention"}),
    ),
    ("feed-forward", (FeedForward, MLP), frozenset({"FeedForward", "CLIPMLP"})),
    # what a transformer block holds besides attention and MLP: its LayerNorms, and the
    # GroupNorm, proj_in and proj_out of a spatial transformer
    (
        "norm + proj",
        (SpatialTransformer, BasicTransformerBlock, EncoderLayer),
        frozenset({"Transformer2DModel", "BasicTransformerBlock", "CLIPEncoderLayer"}),
    ),
    ("up/down sampling", (Downsample, Upsample), frozenset({"Downsample2D", "Upsample2D"})),
    # SDXL's add_embedding (pooled text + size and crop ids, "text_time") is a
    # TimestepEmbedding whose output is added to the time embedding: counted here
    ("time embedding", (), frozenset({"TimestepEmbedding"})),
    ("embeddings", (nn.Embedding,), frozenset()),
)
# modules recognised by their attribute name, outside any block above
_BY_NAME = {
    "time_embed": "time embedding",  # the course UNet's MLP on the sinusoidal embedding
    "conv_in": "conv in/out",
    "conv_out": "conv in/out",
    "conv_norm_out": "conv in/out",  # diffusers' GroupNorm before conv_out
    "norm_out": "conv in/out",  # the course's
    "quant_conv": "conv in/out",  # the autoencoder's 1x1 convolutions at the latent
    "post_quant_conv": "conv in/out",
    "final_layer_norm": "norm + proj",  # the text encoders'
    "text_projection": "norm + proj",
}


def _check_module(module: Any) -> None:
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch.nn.Module, got {type(module).__name__}")


def _attention_kind(name: str, module: nn.Module) -> str:
    """attn2 of a transformer block attends to the context (diffusers records it in
    ``is_cross_attention``); every other attention layer is a self-attention."""
    cross = getattr(module, "is_cross_attention", name == "attn2")
    return "cross-attention" if cross else "self-attention"


def _block_type(name: str, module: nn.Module, inherited: str | None) -> str | None:
    class_names = {c.__name__ for c in type(module).__mro__}
    for kind, classes, names in _KINDS:
        if isinstance(module, classes) or class_names & names:
            return _attention_kind(name, module) if kind == "attention" else kind
    if inherited is None:
        return _BY_NAME.get(name)
    return None


def count_parameters(module: nn.Module) -> int:
    """N, the number of scalar parameters of ``module`` (shared tensors counted once).

    Works on networks built on the meta device (shapes without storage).

    Raises:
        ValueError: if ``module`` is not a ``torch.nn.Module``.
    """
    return parameter_count(module)


def parameters_by_block(module: nn.Module) -> dict[str, int]:
    """Parameters of ``module`` per kind of block, every parameter counted exactly once.

    A parameter belongs to the innermost recognised block holding it: a ResNet block
    (diffusers ``ResnetBlock2D``, the course's ``ResnetBlock``, with their time-embedding
    projection), an attention layer (``attn1`` self-attention, ``attn2`` cross-attention;
    the autoencoder's and the course UNet's ``SelfAttention2d`` and CLIP's ``self_attn``
    are self-attention; each with its own norm, if any), a transformer MLP
    (``FeedForward``, ``CLIPMLP``), the rest of a transformer block ("norm + proj":
    LayerNorms, a spatial transformer's GroupNorm, proj_in and proj_out, CLIP's final
    LayerNorm and text projection), down/up sampling convolutions, the time embedding MLP
    (SDXL's text_time ``add_embedding`` included), embedding tables (CLIP's token and
    position embeddings, the course's label embedding), the first and last convolutions
    (``conv_in``, ``conv_out``, the norm before ``conv_out``, the autoencoder's
    ``quant_conv`` and ``post_quant_conv``); anything else is "other" (the course's FiLM).

    Args:
        module: any ``torch.nn.Module``, on any device (meta included).
    Returns:
        A dict with every key of :data:`BLOCK_TYPES`, in that order (0 where there is
        none); the values sum to :func:`count_parameters`.
    Raises:
        ValueError: if ``module`` is not a ``torch.nn.Module``.
    """
    _check_module(module)
    counts = dict.fromkeys(BLOCK_TYPES, 0)
    seen: set[int] = set()

    def walk(name: str, m: nn.Module, inherited: str | None) -> None:
        kind = _block_type(name, m, inherited) or inherited
        for p in m.parameters(recurse=False):
            if id(p) not in seen:
                seen.add(id(p))
                counts[kind or "other"] += p.numel()
        for child_name, child in m.named_children():
            walk(child_name, child, kind)

    walk("", module, None)
    return counts


_DOWN = ("down_blocks", "down_attns", "down_conds", "downsamplers")
_UP = ("up_blocks", "up_attns", "up_conds", "upsamplers")


def parameters_by_level(module: nn.Module) -> dict[str, int]:
    """A UNet's parameters per resolution level of its down path, middle and up path.

    Parameter names decide: ``down_blocks.i.*`` (and the course's ``down_attns.i``,
    ``down_conds.i``, ``downsamplers.i``) -> ``"down.i"``; ``mid_block.*`` / ``mid_*`` ->
    ``"mid"``; ``up_blocks.i.*`` (``up_attns.i``, ...) -> ``"up.i"``, where ``up.0`` is
    the lowest resolution in both diffusers and the course; everything else (conv_in,
    the time and label embeddings, conv_out) -> ``"in/out"``.

    Args:
        module: a diffusers ``UNet2DConditionModel`` or a course ``UNet`` (any device).
    Returns:
        A dict ``down.0, ..., mid, up.0, ..., in/out`` -> parameters; the values sum to
        :func:`count_parameters`.
    Raises:
        ValueError: if ``module`` is not a module, or has no ``down_blocks.i`` /
            ``up_blocks.i`` parameters (it is not a UNet).
    """
    _check_module(module)
    down: dict[int, int] = {}
    up: dict[int, int] = {}
    mid = rest = 0
    for name, p in module.named_parameters():
        head, _, tail = name.partition(".")
        index = tail.partition(".")[0]
        if head in _DOWN and index.isdigit():
            down[int(index)] = down.get(int(index), 0) + p.numel()
        elif head in _UP and index.isdigit():
            up[int(index)] = up.get(int(index), 0) + p.numel()
        elif head.startswith("mid"):
            mid += p.numel()
        else:
            rest += p.numel()
    if not down or not up:
        raise ValueError(
            f"module must be a UNet with down_blocks.i and up_blocks.i parameters, "
            f"got a {type(module).__name__} without them"
        )
    levels = {f"down.{i}": n for i, n in sorted(down.items())}
    levels["mid"] = mid
    levels.update({f"up.{i}": n for i, n in sorted(up.items())})
    levels["in/out"] = rest
    return levels


def forward_flops(fn: Callable[..., Any], *inputs: Any, **kwargs: Any) -> int:
    """FLOPs of one call ``fn(*inputs, **kwargs)`` under ``torch.no_grad()``.

    Counted by ``torch.utils.flop_counter.FlopCounterMode``, which reads shapes only:
    matrix products and convolutions, at 2 FLOPs per multiply-accumulate (FLOPs = 2 x
    MACs); normalisations, activations, softmax and additions are not counted (they are a
    few percent). It works on meta tensors: a network built under ``torch.device("meta")``
    and fed meta inputs is counted exactly without any memory or arithmetic. There,
    ``scaled_dot_product_attention`` runs its reference (math) path, whose two batched
    matrix products are counted; on real CPU tensors PyTorch picks a fused kernel
    (``_scaled_dot_product_flash_attention_for_cpu``) for which FlopCounterMode has no
    formula, so attention would be left out: count on meta.

    Args:
        fn: a module or any callable (``vae.decode``), with its inputs on the same device
            as its parameters (all meta, or all real).
        inputs, kwargs: what ``fn`` takes; for a FLOP count per sample, a batch of 1.
    Returns:
        The FLOP count, an int >= 0 (per call: classifier-free guidance doubles it).
    Raises:
        ValueError: if ``fn`` is not callable.
    """
    return sum(flops_by_operator(fn, *inputs, **kwargs).values())


def flops_by_operator(fn: Callable[..., Any], *inputs: Any, **kwargs: Any) -> dict[str, int]:
    """:func:`forward_flops` split by the ATen operator that spent them.

    Returns:
        A dict such as ``{"convolution": ..., "addmm": ..., "mm": ..., "bmm": ...}``
        (operator name -> FLOPs, ints): ``convolution`` for Conv2d, ``addmm``/``mm`` for
        Linear layers with/without bias, ``bmm`` for the attention products Q K^T and
        softmax(.) V on meta tensors (2 x 2 N M d per head of d channels over N queries
        and M keys). Empty for a call with no matrix product.
    Raises:
        ValueError: if ``fn`` is not callable.
    """
    if not callable(fn):
        raise ValueError(f"fn must be a module or a callable, got {type(fn).__name__}")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn(*inputs, **kwargs)
    counts = counter.get_flop_counts().get("Global", {})
    return {op.__name__.split(".")[-1]: int(n) for op, n in counts.items()}


def memory_bytes(n_params: int, dtype: torch.dtype = torch.float32) -> int:
    """Bytes the weights take in memory: N x bytes per element (4 in fp32, 2 in fp16/bf16).

    Args:
        n_params: N, an int >= 0 (e.g. :func:`count_parameters`).
        dtype: a floating-point ``torch.dtype``.
    Returns:
        The size in bytes, an int (divide by 2**20 for MiB, 2**30 for GiB).
    Raises:
        ValueError: if ``n_params`` is not an int >= 0 or ``dtype`` not a float dtype.
    """
    n_params = check_int(n_params, "n_params", lo=0)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    return n_params * dtype.itemsize


def anatomy_row(
    name: str,
    module: nn.Module,
    call: Callable[..., Any] | None = None,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One row of the anatomy table: a network's size, weight memory, FLOPs and blocks.

    Args:
        name: the row's label ("unet", "vae", "text_encoder", ...).
        module: the network whose parameters are counted.
        call: what one evaluation runs, e.g. ``module`` itself or ``vae.decode``; None
            leaves the FLOPs out. Counted by :func:`forward_flops` on ``args``/``kwargs``.
    Returns:
        A dict: ``component``, ``class`` (the network's class name), ``parameters`` (N),
        ``fp32 (MiB)`` and ``fp16 (MiB)`` (weight memory, MiB = 2**20 bytes),
        ``GFLOPs`` (10**9 FLOPs of one call, None without ``call``), then one entry per
        :data:`BLOCK_TYPES` (parameters).
    Raises:
        ValueError: if ``name`` is not a string, ``module`` not a module or ``call`` not
            callable.
    """
    if not isinstance(name, str):
        raise ValueError(f"name must be a string, got {type(name).__name__}")
    _check_module(module)
    n = count_parameters(module)
    flops = None if call is None else forward_flops(call, *args, **dict(kwargs or {}))
    return {
        "component": name,
        "class": type(module).__name__,
        "parameters": n,
        "fp32 (MiB)": memory_bytes(n, torch.float32) / 2**20,
        "fp16 (MiB)": memory_bytes(n, torch.float16) / 2**20,
        "GFLOPs": None if flops is None else flops / 1e9,
        **parameters_by_block(module),
    }


def anatomy_rows(evaluations: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The anatomy table of a whole model, one :func:`anatomy_row` per component.

    Args:
        evaluations: component name -> ``{"module": net, "call": fn, "args": (...),
            "kwargs": {...}}`` (``call``, ``args``, ``kwargs`` optional), the form
            ``ldm_teach.interop.reference_evaluations(model)`` returns; for the course's
            networks, write the same dict by hand.
    Returns:
        A list of row dicts, in the order of ``evaluations``; print it with
        ``ldm_teach.viz.table([list(r.values()) for r in rows], columns=list(rows[0]))``.
    Raises:
        ValueError: if ``evaluations`` is not a non-empty mapping of mappings with a
            ``module``, or has other keys than module, call, args and kwargs.
    """
    if not isinstance(evaluations, Mapping) or not evaluations:
        raise ValueError(f"evaluations must be a non-empty mapping, got {evaluations!r:.80}")
    rows = []
    for name, spec in evaluations.items():
        if not isinstance(spec, Mapping) or "module" not in spec:
            raise ValueError(f"evaluations[{name!r}] must be a mapping with a 'module'")
        unknown = set(spec) - {"module", "call", "args", "kwargs"}
        if unknown:
            raise ValueError(f"evaluations[{name!r}] has unknown keys {sorted(unknown)}")
        rows.append(anatomy_row(name, **spec))
    return rows
