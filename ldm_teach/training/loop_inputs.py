"""The checks on what :func:`ldm_teach.training.train` is given: the loss ``loss_fn``
returns, the progressive-training stages, the extra checkpoint metadata, and the
fingerprint of the data that a resume must match. Kept apart so that ``train`` reads as the
loop of its docstring (steps 1-6); each check runs before step 0, not when its input is
first used, and every message names the argument and what was expected.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor


def _check_loss(loss: Tensor) -> None:
    """Raise TypeError/ValueError unless ``loss`` is a scalar tensor with a gradient."""
    if not isinstance(loss, Tensor):
        raise TypeError(f"loss_fn must return a tensor, got {type(loss).__name__}")
    if loss.numel() != 1:
        raise ValueError(
            f"loss_fn must return a scalar (one value), got shape "
            f"{tuple(loss.shape)}; reduce it, e.g. with .mean()"
        )
    if not loss.requires_grad:
        raise ValueError(
            "loss_fn's loss does not require a gradient: it was computed under "
            "torch.no_grad(), detached, or from frozen parameters only"
        )


def _check_stages(
    stages: Sequence[tuple[int, tuple[Tensor, ...]]], data: tuple[Tensor, ...], steps: int
) -> list[tuple[int, tuple[Tensor, ...]]]:
    """Validate progressive-training stages before step 0 (not when a stage starts)."""
    if stages is None or isinstance(stages, (dict, Tensor)) or not isinstance(stages, Iterable):
        raise TypeError(
            "stages must be a sequence of (start_step, data) pairs, e.g. "
            f"[(400, (latents_32, labels))], got {type(stages).__name__}"
        )
    stages = list(stages)  # a generator would be used up by the checks below
    for stage in stages:
        if not isinstance(stage, (tuple, list)) or len(stage) != 2:
            raise TypeError(f"each stage must be a (start_step, data) pair, got {stage!r:.80}")
    starts = [start for start, _ in stages]
    if any(not isinstance(s, int) or isinstance(s, bool) for s in starts) or any(
        not a < b for a, b in zip([0, *starts], [*starts, steps], strict=True)
    ):
        raise ValueError(
            f"stages' start steps must be ints increasing strictly inside (0, {steps}), "
            f"got {starts}"
        )
    for start, stage_data in stages:
        where = f"the data of the stage starting at step {start}"
        if not isinstance(stage_data, (tuple, list)) or not all(
            isinstance(d, Tensor) for d in stage_data
        ):
            raise TypeError(
                f"{where} must be a tuple of tensors like data, got {type(stage_data).__name__}"
            )
        if (
            not stage_data
            or any(d.ndim == 0 for d in stage_data)
            or stage_data[0].shape[0] == 0
            or any(d.shape[0] != stage_data[0].shape[0] for d in stage_data)
        ):
            raise ValueError(
                f"{where} must be a non-empty tuple of tensors with equal, non-zero length"
            )
        if len(stage_data) != len(data):
            raise ValueError(f"{where} has {len(stage_data)} tensors; data has {len(data)}")
        for i, (d, ref) in enumerate(zip(stage_data, data, strict=True)):
            if d.dtype != ref.dtype or d.device != ref.device or d.ndim != ref.ndim:
                raise ValueError(
                    f"{where}: tensor {i} is {d.dtype} on {d.device} with {d.ndim} dims; "
                    f"data's is {ref.dtype} on {ref.device} with {ref.ndim} dims"
                )
    return stages


def data_fingerprint(
    data: Sequence[Tensor], stages: Sequence[tuple[int, Sequence[Tensor]]] = ()
) -> str:
    """SHA-256 (hex) of the training data: the shape, dtype and bytes of every tensor of
    ``data`` and of each stage (with its start step). Stored in checkpoints, so that a
    resume with other data is refused instead of silently mixing two datasets."""
    digest = hashlib.sha256()

    def add(tensors: Sequence[Tensor]) -> None:
        for t in tensors:
            t = t.detach().to("cpu").contiguous()
            digest.update(f"{tuple(t.shape)}|{t.dtype};".encode())
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())

    add(data)
    for start, stage_data in stages:
        digest.update(f"stage {start};".encode())
        add(stage_data)
    return digest.hexdigest()


def _check_extra_metadata(extra_metadata: dict | None) -> dict:
    """Return ``extra_metadata`` (or ``{}``) once it is known to be JSON-able.

    Checked before step 1, so that a non-JSON value does not fail at the first checkpoint
    after minutes of training.
    """
    if extra_metadata is None:
        return {}
    if not isinstance(extra_metadata, dict):
        raise TypeError(
            f"extra_metadata must be a dict or None, got {type(extra_metadata).__name__}"
        )
    try:
        json.dumps(extra_metadata, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"extra_metadata must be JSON-able (str keys; str, number, bool, None, "
            f"list and dict values; no NaN): {err}"
        ) from None
    return extra_metadata
