"""One plain training loop for both stages: the autoencoder and the diffusion UNet.

What it does, step by step (each a standard trick the chapter's 10.3.4 discusses):

1. draw a batch with a generator seeded by (seed, step), so a resumed run sees exactly
   the batches an uninterrupted run would have seen;
2. compute the loss, optionally under bf16 autocast (CPU and CUDA);
3. accumulate gradients over ``grad_accum`` micro-batches (loss divided by grad_accum);
4. clip the gradient norm, take an AdamW step (Loshchilov & Hutter 2019,
   arXiv:1711.05101) with a linear learning-rate warm-up;
5. update an exponential moving average of the weights with
   ``torch.optim.swa_utils.AveragedModel`` (EMA: Polyak averaging, as in Ho et al. 2020),
   optionally with the usual warm-up of its decay (``ema_warmup``, see :class:`TrainConfig`);
6. every ``checkpoint_every`` steps, write model, EMA, optimizer and step to
   ``checkpoint_dir/checkpoint.safetensors`` atomically; ``resume=True`` continues from it.

With ``accelerator=`` (an ``accelerate.Accelerator``) the same steps run data-parallel on
P processes: each keeps its shard of every global batch, ``accelerator.backward`` averages
the gradients, the main process alone writes checkpoints (see
:mod:`ldm_teach.training.distributed`).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from ldm_teach.argcheck import check_bool
from ldm_teach.training.checkpoint import (
    check_output_dir,
    load_tensors,
    optimizer_from_tensors,
    optimizer_to_tensors,
    save_tensors_atomic,
)
from ldm_teach.training.config import (  # noqa: F401  (TrainConfig is loop's API too)
    RESUMABLE_CHANGES,
    TrainConfig,
    _ema_warmup_multi_avg_fn,
    _lr_at,
    ema_warmup_decay,
)
from ldm_teach.training.distributed import (
    check_accelerator,
    check_gradients_agree,
    loss_generator,
    mean_over_processes,
    shard_indices,
)
from ldm_teach.training.loop_inputs import (
    _check_extra_metadata,
    _check_loss,
    _check_stages,
    data_fingerprint,
)

CHECKPOINT_NAME = "checkpoint.safetensors"


@dataclass
class TrainResult:
    """What :func:`train` returns."""

    model: nn.Module  # trained weights (last step)
    ema_model: nn.Module | None  # the EMA copy (``.module`` of an AveragedModel), or None
    losses: list[float] = field(default_factory=list)  # loss per optimizer step
    step: int = 0  # steps completed, counting resumed ones
    wall_time_s: float = 0.0  # seconds spent in this call


def train(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, tuple[Tensor, ...], torch.Generator], Tensor],
    data: tuple[Tensor, ...],
    config: TrainConfig,
    *,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    extra_metadata: dict | None = None,
    stages: Sequence[tuple[int, tuple[Tensor, ...]]] = (),
    accelerator=None,
) -> TrainResult:
    """Train ``model`` on in-memory ``data`` with AdamW, warm-up, clipping and EMA.

    Args:
        model: the module to train; its trainable parameters are optimised.
        loss_fn: ``loss_fn(model, batch, generator) -> scalar``; ``batch`` is a tuple of
            tensors (one row each from ``data``), ``generator`` seeds the loss's randomness.
        data: a tuple of tensors with equal first dimension N (e.g. ``(latents, labels)``),
            on the device training runs on.
        config: a :class:`TrainConfig`.
        checkpoint_dir: folder for ``checkpoint.safetensors``, or None for no checkpoints.
        resume: continue from the checkpoint in ``checkpoint_dir`` if there is one.
        progress: show a tqdm progress bar.
        extra_metadata: JSON-able dict stored in the checkpoint (e.g. model configs).
        stages: ``(start_step, data)`` pairs with strictly increasing start steps in
            (0, config.steps): from ``start_step`` on, batches are drawn from that data
            instead of the previous one. This is progressive training (course Sec. 10.3.4):
            e.g. latents of 16 x 16 images first, then of 32 x 32 images, for a fully
            convolutional model. Optimizer, EMA and learning-rate schedule carry over.
        accelerator: None (one process), or an ``accelerate.Accelerator`` to train
            data-parallel (:mod:`ldm_teach.training.distributed`): ``config.batch_size``
            is then the global batch, each of the P processes computes the loss on its
            B / P rows, gradients are averaged; ``data`` must be on
            ``accelerator.device``, ``checkpoint_dir`` a folder every process sees. Every
            process returns the same TrainResult (the unwrapped model); only the main one
            writes. Its checkpoints load and resume in one process, and vice versa.
    Returns:
        A :class:`TrainResult`.
    Raises:
        ValueError: if ``data`` or a stage's data is empty or its tensors disagree in
            length, a stage's tensors differ from ``data``'s in number, dtype, device or
            dimensions, or the stages' start steps are not increasing inside (0, steps);
            on resume, if the checkpoint's TrainConfig differs from ``config`` in a field
            other than :data:`RESUMABLE_CHANGES` (the differing fields are named), or
            the data (:func:`data_fingerprint`) or ``extra_metadata`` differ from the
            checkpoint's.
        TypeError: if ``extra_metadata`` is not a dict (ValueError if it is not JSON-able),
            or ``stages`` is not a sequence of ``(start_step, tuple_of_tensors)``.
        TypeError, ValueError: for an accelerator :func:`~ldm_teach.training.distributed.
            check_accelerator` refuses (e.g. batch_size not divisible by P).
        RuntimeError: with P > 1, if the gradients differ between processes at the first
            step (``loss_fn`` did not call the model it was given).
        FloatingPointError: if the loss is NaN or inf at a step (named; raised before
            that step's update).
        FileExistsError: if ``checkpoint_dir`` already holds a checkpoint and ``resume``
            is False (nothing a user saved is overwritten silently).
    """
    resume = check_bool(resume, "resume")
    progress = check_bool(progress, "progress")
    if not isinstance(config, TrainConfig):
        raise TypeError(
            f"config must be a TrainConfig, got {type(config).__name__} (build one "
            "with TrainConfig(**fields))"
        )
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(
            f"loss_fn must be callable (model, batch, generator) -> loss, got "
            f"{type(loss_fn).__name__}"
        )
    if isinstance(data, Tensor):
        raise TypeError("data must be a tuple of tensors, got one tensor: pass (data,)")
    if (
        not isinstance(data, (tuple, list))
        or not data
        or not all(isinstance(d, Tensor) and d.ndim >= 1 for d in data)
        or any(d.shape[0] != data[0].shape[0] for d in data)
        or data[0].shape[0] == 0
    ):
        raise ValueError("data must be a non-empty tuple of tensors with equal, non-zero length")
    stages = _check_stages(stages, data, config.steps)
    if accelerator is not None:
        check_accelerator(accelerator, config.batch_size, data[0].device)
    rank, world = (
        (0, 1) if accelerator is None else (accelerator.process_index, accelerator.num_processes)
    )
    is_main = accelerator is None or accelerator.is_main_process
    extra_metadata = _check_extra_metadata(extra_metadata)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(
            f"model ({type(model).__name__}) has no trainable parameters (none "
            "with requires_grad=True): there is nothing to train"
        )
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    # what the steps call: DDP-wrapped model and wrapped optimizer with an accelerator (the
    # wrapper broadcasts the main process's weights, so the EMA copy below starts equal)
    forward_model, stepper = model, optimizer
    if accelerator is not None:
        forward_model, stepper = accelerator.prepare(model, optimizer)
    ema = None
    if config.ema_decay is not None:
        avg_fn = (_ema_warmup_multi_avg_fn if config.ema_warmup else get_ema_multi_avg_fn)(
            config.ema_decay
        )
        ema = AveragedModel(model, multi_avg_fn=avg_fn)  # its n_averaged is checkpointed
    start, losses = 0, []

    ckpt_path = None
    fingerprint = None
    if checkpoint_dir is not None:  # checked before training, not after the last step
        ckpt_path = check_output_dir(checkpoint_dir, what="checkpoint_dir") / CHECKPOINT_NAME
    if ckpt_path is not None:
        fingerprint = data_fingerprint(data, stages)
    if ckpt_path is not None and ckpt_path.exists():
        if not resume:
            raise FileExistsError(
                f"{ckpt_path} exists; pass resume=True to continue it or choose another "
                f"checkpoint_dir"
            )
        tensors, meta = load_tensors(ckpt_path, device=data[0].device)
        saved = meta.get("train_config") or {}
        differing = sorted(
            k
            for k, v in asdict(config).items()
            if k not in RESUMABLE_CHANGES and k in saved and saved[k] != v
        )
        if differing:
            raise ValueError(
                f"cannot resume {ckpt_path} with a different TrainConfig: "
                + ", ".join(
                    f"{k}={getattr(config, k)!r} (checkpoint: {saved[k]!r})" for k in differing
                )
                + f"; only {', '.join(RESUMABLE_CHANGES)} may change on resume"
            )
        if "data_sha256" in meta and meta["data_sha256"] != fingerprint:
            raise ValueError(
                f"cannot resume {ckpt_path} with other data: the checkpoint was "
                f"trained on data with SHA-256 {meta['data_sha256']}, this data has "
                f"{fingerprint}; resume with the same data or start a new "
                "checkpoint_dir"
            )
        if "extra" in meta and meta["extra"] != extra_metadata:
            raise ValueError(
                f"cannot resume {ckpt_path} with different extra_metadata: the "
                f"checkpoint has {meta['extra']!r}, got {extra_metadata!r} (it "
                "describes the model being trained)"
            )
        start = int(meta["step"])
        if start > config.steps:  # before touching the caller's model
            raise ValueError(f"checkpoint is at step {start}, beyond config.steps={config.steps}")
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        if ema is not None:
            ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
        optimizer_from_tensors(optimizer, tensors, meta["optimizer"])
        losses = list(meta["losses"])

    def save(step: int) -> None:
        if ckpt_path is None:
            return
        if not is_main:  # the weights are the same everywhere: the main process writes
            accelerator.wait_for_everyone()
            return
        bare = model if accelerator is None else accelerator.unwrap_model(forward_model)
        opt_tensors, opt_meta = optimizer_to_tensors(optimizer)
        tensors = {f"model.{k}": v for k, v in bare.state_dict().items()}
        if ema is not None:
            tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
        tensors.update(opt_tensors)
        meta = {
            "step": step,
            "losses": losses,
            "train_config": asdict(config),
            "optimizer": opt_meta,
            "extra": extra_metadata,
            "data_sha256": fingerprint,
        }
        save_tensors_atomic(tensors, ckpt_path, meta)
        if accelerator is not None:
            accelerator.wait_for_everyone()  # no process reads it before it is whole

    device_type = data[0].device.type
    t_start = time.perf_counter()
    model.train()
    bar = tqdm(
        range(start, config.steps),
        initial=start,
        total=config.steps,
        disable=not progress or not is_main,
        desc="train",
    )
    for step in bar:
        # 0. the data of the current stage (progressive training)
        current = data
        for start_step, stage_data in stages:
            if step >= start_step:
                current = stage_data
        n = current[0].shape[0]
        # 1. the batch and the loss's randomness depend only on (seed, step)
        step_seed = config.seed * 1_000_003 + step
        gen = torch.Generator().manual_seed(step_seed)
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, config)
        total = 0.0
        for micro in range(config.grad_accum):
            idx = torch.randint(0, n, (config.batch_size,), generator=gen)
            loss_gen = gen
            if accelerator is not None:  # this process's B / P rows and noise generator
                idx = shard_indices(idx, rank, world)
                loss_gen = loss_generator(gen, step_seed, micro, rank, world)
            batch = tuple(d[idx.to(current[0].device)] for d in current)
            # gradients are all-reduced once per step, at the last micro-batch
            sync = micro == config.grad_accum - 1 or accelerator is None
            with contextlib.nullcontext() if sync else accelerator.no_sync(forward_model):
                # 2. forward, optionally in bf16
                with torch.autocast(
                    device_type, dtype=torch.bfloat16, enabled=config.bf16_autocast
                ):
                    loss = loss_fn(forward_model, batch, loss_gen)
                _check_loss(loss)
                # 3. accumulate (with P processes: and average over them)
                if accelerator is None:
                    (loss.float() / config.grad_accum).backward()
                else:
                    accelerator.backward(loss.float() / config.grad_accum)
            total += float(loss.detach()) / config.grad_accum
        if accelerator is not None:
            total = mean_over_processes(accelerator, total, current[0].device)
            if step == start:
                check_gradients_agree(accelerator, params)
        if not math.isfinite(total):  # before the step: the weights stay finite
            raise FloatingPointError(
                f"the loss is {total} at step {step}: the data or the model holds NaN/inf, "
                f"or training diverged (lower lr, set grad_clip); the weights are those "
                f"before step {step}"
            )
        # 4. clip and step
        if config.grad_clip is not None and accelerator is not None:
            accelerator.clip_grad_norm_(params, config.grad_clip)
        elif config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        stepper.step()
        stepper.zero_grad(set_to_none=True)
        # 5. EMA
        if ema is not None:
            ema.update_parameters(model)
        losses.append(total)
        if progress and (step % 10 == 0 or step == config.steps - 1):
            bar.set_postfix(loss=f"{total:.4f}")
        # 6. checkpoint
        if config.checkpoint_every and (step + 1) % config.checkpoint_every == 0:
            save(step + 1)
    bar.close()
    save(config.steps)
    model.eval()
    return TrainResult(
        model=model,
        ema_model=ema.module if ema is not None else None,
        losses=losses,
        step=config.steps,
        wall_time_s=time.perf_counter() - t_start,
    )


def losses_summary(losses: list[float], window: int = 50) -> str:
    """A one-line JSON summary of a loss curve: first/last window means."""
    if not losses:
        return json.dumps({"steps": 0})
    w = max(1, min(window, len(losses)))
    return json.dumps(
        {
            "steps": len(losses),
            "first": round(sum(losses[:w]) / w, 5),
            "last": round(sum(losses[-w:]) / w, 5),
        }
    )
