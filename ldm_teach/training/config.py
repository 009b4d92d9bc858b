"""The configuration of a training run (:class:`TrainConfig`) and the schedules it implies:
the linear learning-rate warm-up and the EMA decay with its warm-up (diffusers'
``EMAModel``, CompVis' ``LitEma``). :func:`ldm_teach.training.train` runs it."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ldm_teach.argcheck import is_int, is_real


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`train`; validated at construction.

    EMA. The first EMA update copies the weights (``AveragedModel``); update t >= 1 (t
    counts the updates before it) sets ema <- d_t * ema + (1 - d_t) * weights, with
    d_t = ema_decay, or with ``ema_warmup`` d_t = min(ema_decay, (1 + t) / (10 + t)), the
    warm-up of diffusers' ``EMAModel`` (its default ``use_ema_warmup=False`` branch,
    update_after_step=0, min_decay=0; the same formula as CompVis' ``LitEma`` in the LDM
    code): d_1 = 2/11, d_2 = 3/12, ..., so early weights, far from the final ones, are
    forgotten quickly. It is off by default, so configs recorded before it existed still
    mean what they meant.

    Raises:
        ValueError: naming the first field out of range: steps, batch_size, grad_accum,
            warmup_steps, checkpoint_every or seed not an int; steps, batch_size,
            grad_accum < 1; lr not a finite positive number; weight_decay not a finite
            number >= 0; bf16_autocast not a bool; warmup_steps, checkpoint_every or seed
            negative; ema_decay
            not a number in (0, 1) (NaN and inf included) or None; ema_warmup not a bool,
            or True without an ema_decay; grad_clip not positive or None.
    """

    steps: int  # optimizer steps in total
    batch_size: int = 64  # examples per micro-batch
    lr: float = 2e-4  # peak learning rate of AdamW
    weight_decay: float = 0.0  # AdamW weight decay
    warmup_steps: int = 100  # linear warm-up from 0 to lr over this many steps
    grad_accum: int = 1  # micro-batches per optimizer step
    grad_clip: float | None = 1.0  # max global gradient norm, or None
    ema_decay: float | None = 0.999  # EMA decay per step, in (0, 1), or None for no EMA
    ema_warmup: bool = False  # decay min(ema_decay, (1 + t) / (10 + t)) at update t; see below
    bf16_autocast: bool = False  # run the forward pass under torch.autocast(bfloat16)
    checkpoint_every: int = 0  # steps between checkpoints (0: only at the end)
    seed: int = 0  # seeds batches and the loss's randomness

    def __post_init__(self) -> None:
        _check_train_config(self)


def _check_train_config(cfg: TrainConfig) -> None:
    """ValueError naming the first field of ``cfg`` out of range."""
    for name in ("steps", "batch_size", "grad_accum", "warmup_steps", "checkpoint_every", "seed"):
        value = getattr(cfg, name)
        if not is_int(value):
            raise ValueError(f"{name} must be an int, got {value!r}")
    for name in ("steps", "batch_size", "grad_accum"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    for name in ("lr", "weight_decay"):
        value = getattr(cfg, name)
        if not is_real(value) or not (math.isfinite(value)):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not cfg.lr > 0:
        raise ValueError(f"lr must be positive, got {cfg.lr}")
    if cfg.weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {cfg.weight_decay}")
    if not isinstance(cfg.bf16_autocast, bool):
        raise ValueError(f"bf16_autocast must be a bool, got {cfg.bf16_autocast!r}")
    if cfg.warmup_steps < 0 or cfg.checkpoint_every < 0 or cfg.seed < 0:
        raise ValueError("warmup_steps, checkpoint_every and seed must be >= 0")
    if cfg.seed > 2**63 - 1:  # torch.Generator.manual_seed takes a signed 64-bit int
        raise ValueError(f"seed must be at most 2**63 - 1, got {cfg.seed}")
    if cfg.ema_decay is not None and (
        isinstance(cfg.ema_decay, bool) or not 0.0 < cfg.ema_decay < 1.0
    ):
        raise ValueError(f"ema_decay must be in (0, 1) or None, got {cfg.ema_decay}")
    if not isinstance(cfg.ema_warmup, bool):
        raise ValueError(f"ema_warmup must be a bool, got {cfg.ema_warmup!r}")
    if cfg.ema_warmup and cfg.ema_decay is None:
        raise ValueError("ema_warmup=True needs an ema_decay (it warms up the EMA decay)")
    if cfg.grad_clip is not None and not (is_real(cfg.grad_clip) and cfg.grad_clip > 0):
        raise ValueError(f"grad_clip must be positive or None, got {cfg.grad_clip}")


#: TrainConfig fields that may differ between a checkpoint and the run resuming it
RESUMABLE_CHANGES = ("steps", "checkpoint_every", "bf16_autocast")


def ema_warmup_decay(num_averaged: int, decay: float) -> float:
    """Decay of EMA update t = ``num_averaged`` (updates before it, >= 1) with warm-up:
    min(decay, (1 + t) / (10 + t)), as in diffusers' ``EMAModel.get_decay`` and CompVis'
    ``LitEma``."""
    return min(decay, (1 + num_averaged) / (10 + num_averaged))


def _ema_warmup_multi_avg_fn(decay: float) -> Callable:
    """A ``multi_avg_fn`` for ``AveragedModel``: like ``get_ema_multi_avg_fn(decay)``, but
    with the decay of :func:`ema_warmup_decay` at each update."""

    @torch.no_grad()
    def ema_update(ema_params: list[Tensor], params: list[Tensor], num_averaged: Tensor) -> None:
        d = ema_warmup_decay(int(num_averaged), decay)
        if ema_params[0].is_floating_point() or ema_params[0].is_complex():
            torch._foreach_lerp_(ema_params, params, 1 - d)  # ema += (1 - d) (p - ema)
        else:
            for p_ema, p in zip(ema_params, params, strict=True):
                p_ema.copy_(p_ema * d + p * (1 - d))

    return ema_update


def _lr_at(step: int, cfg: TrainConfig) -> float:
    if cfg.warmup_steps == 0:
        return cfg.lr
    return cfg.lr * min(1.0, (step + 1) / cfg.warmup_steps)
