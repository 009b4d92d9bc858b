"""Data parallelism for :func:`ldm_teach.training.train` (course Sec. 10.5, "beyond one
laptop"), through Hugging Face Accelerate: ``train(..., accelerator=Accelerator())``.

The loop is the same loop; these are the pieces it changes when P processes train together
(each holds a full copy of the model and of the in-memory data):

1. **Sharding.** At every micro-batch each process draws the *global* batch of
   ``config.batch_size`` indices from the same generator seeded by (seed, step), so all
   processes hold the same index list, and keeps its own contiguous slice of B / P of them
   (:func:`shard_indices`). Together the P slices are exactly the batch one process draws.
2. **Averaging.** Each process's loss is the mean over its B / P examples; DDP (wrapped
   around the model by ``accelerator.prepare``) all-reduces the gradients during
   ``accelerator.backward`` and divides by P. The mean of P equal-sized shard means is the
   mean over the global batch, so the averaged gradient is the one-process gradient (up
   to the order of float additions), and clipping, AdamW and EMA, applied to identical
   gradients on every process, keep the P copies of the weights identical.
3. **The loss's own randomness** (diffusion timesteps and noise, say) cannot be split like
   the indices: ``loss_fn`` draws for the rows it is given. With P > 1 each process gets
   its own generator, seeded by (seed, step, micro-batch, rank) (:func:`loss_generator`),
   so the shards draw independent noise; with P = 1 it is the step generator itself, and the run
   equals :func:`train` without an accelerator exactly. A loss that draws nothing (or whose
   randomness is stored with the data) gives the one-process update to float tolerance.

Write ``loss_fn`` to call the ``model`` it is given (the DDP wrapper): the gradients are
averaged by hooks that wrapper's forward arms. :func:`check_gradients_agree` verifies it at
the first step and names the mistake otherwise.

Launch P processes with ``torchrun --nproc_per_node P script.py`` (CPU: ``Accelerator(
cpu=True)``, gloo), ``accelerate launch --num_processes P script.py`` (GPUs), or
``accelerate.debug_launcher(fn, num_processes=P)`` in a test. ``accelerate launch --cpu
--num_processes 2`` starts one process, not two.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

if TYPE_CHECKING:  # accelerate is imported only when an accelerator is used
    from accelerate import Accelerator

#: distributed types whose ``prepare`` gives plain DistributedDataParallel (or nothing)
_UNSUPPORTED = ("DEEPSPEED", "FSDP", "MEGATRON_LM", "XLA")


def check_accelerator(accelerator: Accelerator, batch_size: int, data_device: torch.device) -> None:
    """Check that ``train`` can run data-parallel with ``accelerator``.

    Args:
        accelerator: an ``accelerate.Accelerator`` (any number of processes).
        batch_size: the global batch size per micro-batch (``TrainConfig.batch_size``).
        data_device: the device of the training data.
    Raises:
        TypeError: if ``accelerator`` is not an ``accelerate.Accelerator``.
        ValueError: if ``batch_size`` is not divisible by the number of processes, the
            accelerator accumulates gradients itself (use ``TrainConfig.grad_accum``), uses
            mixed precision (use ``TrainConfig.bf16_autocast``) or a sharded/DeepSpeed
            plugin, or the data is not on ``accelerator.device``.
    """
    from accelerate import Accelerator

    if not isinstance(accelerator, Accelerator):
        raise TypeError(
            f"accelerator must be an accelerate.Accelerator or None, got "
            f"{type(accelerator).__name__}"
        )
    p = accelerator.num_processes
    if batch_size % p:
        raise ValueError(
            f"batch_size must be divisible by the number of processes ({p}): it is the "
            f"global batch, split into {p} equal shards; got batch_size={batch_size}"
        )
    if accelerator.gradient_accumulation_steps != 1:
        raise ValueError(
            f"accelerator must have gradient_accumulation_steps=1, got "
            f"{accelerator.gradient_accumulation_steps}: set TrainConfig.grad_accum instead"
        )
    if accelerator.mixed_precision != "no":
        raise ValueError(
            f"accelerator must have mixed_precision='no', got {accelerator.mixed_precision!r}:"
            " set TrainConfig.bf16_autocast instead"
        )
    kind = str(accelerator.distributed_type).rsplit(".", 1)[-1]
    if kind in _UNSUPPORTED:
        raise ValueError(
            f"accelerator's distributed type {kind} is not supported: train replicates the "
            "model (DistributedDataParallel); use plain multi-CPU/multi-GPU processes"
        )
    want, got = torch.device(accelerator.device), torch.device(data_device)
    if want.type != got.type or (want.type != "cpu" and want.index != got.index):
        raise ValueError(
            f"data must be on accelerator.device ({accelerator.device}), got {data_device}: "
            "pass tuple(d.to(accelerator.device) for d in data)"
        )


def shard_indices(idx: Tensor, process_index: int, num_processes: int) -> Tensor:
    """The contiguous slice of the global batch ``idx`` that process ``process_index`` keeps.

    Args:
        idx: the global batch's row indices, (B,) int64, identical on every process.
        process_index: this process's rank, in [0, num_processes - 1].
        num_processes: P, dividing B.
    Returns:
        ``idx[r * B / P : (r + 1) * B / P]``, (B / P,): the P slices, concatenated in rank
        order, are ``idx``.
    Raises:
        ValueError: if P does not divide B or the rank is out of range.
    """
    b = idx.shape[0]
    if num_processes < 1 or b % num_processes:
        raise ValueError(f"num_processes must divide the batch of {b}, got {num_processes}")
    if not 0 <= process_index < num_processes:
        raise ValueError(f"process_index must be in [0, {num_processes - 1}], got {process_index}")
    per = b // num_processes
    return idx[process_index * per : (process_index + 1) * per]


def loss_generator(
    gen: torch.Generator, step_seed: int, micro: int, process_index: int, num_processes: int
) -> torch.Generator:
    """The generator ``loss_fn`` draws its randomness from on this process.

    With one process it is ``gen``, the step generator (the plain loop's). With P > 1 it is
    a generator of its own, seeded by SHA-256 of (step_seed, micro, process_index), so the
    shards' noise is independent yet fixed by (seed, step, micro-batch, rank), and ``gen``
    draws the batch indices only, the same sequence of them one process draws.

    Args:
        gen: the step generator.
        step_seed: its seed, ``seed * 1_000_003 + step``.
        micro: the micro-batch, in [0, grad_accum - 1].
        process_index, num_processes: this process's rank and P.
    """
    if num_processes == 1:
        return gen
    key = f"{step_seed}:{micro}:{process_index}".encode()
    seed = int.from_bytes(hashlib.sha256(key).digest()[:8], "little") >> 1  # < 2**63
    return torch.Generator().manual_seed(seed)


def mean_over_processes(accelerator: Accelerator, value: float, device: torch.device) -> float:
    """The mean of the float ``value`` over all processes (an all-reduce); ``value`` itself
    with one process."""
    if accelerator.num_processes == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    return float(accelerator.reduce(t, reduction="mean"))


def check_gradients_agree(accelerator: Accelerator, params: list[nn.Parameter]) -> None:
    """Raise if the gradients after backward differ between processes.

    They agree when ``loss_fn`` called the DDP-wrapped ``model`` it was given: the wrapper's
    hooks all-reduced them. A ``loss_fn`` that calls the bare module through another name
    (``lambda model, batch, gen: ldm.loss(*batch, gen)`` with ``ldm.unet`` inside) trains P
    diverging copies; this is checked at the first step (one all-gather of P numbers).

    Raises:
        RuntimeError: on every process, naming the fix, if the gradient sums differ.
    """
    if accelerator.num_processes == 1:
        return
    total = sum(float(p.grad.double().sum()) for p in params if p.grad is not None)
    sums = accelerator.gather(torch.tensor([total], dtype=torch.float64, device=accelerator.device))
    if not torch.allclose(sums, sums[0].expand_as(sums), rtol=1e-6, atol=1e-12):
        raise RuntimeError(
            f"the gradients differ between the {accelerator.num_processes} processes (sums "
            f"{sums.tolist()}): loss_fn must call the model it is given (the "
            "DistributedDataParallel wrapper), not the bare module by another name"
        )
