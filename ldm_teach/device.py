"""Device choice and seeding, decided once for the whole course.

The course runs on a laptop CPU; where an accelerator is present it is used, in the order
``cuda`` then ``mps`` then ``cpu``. Nothing else in the package hard-codes a device.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def default_device(prefer: str | None = None) -> torch.device:
    """Pick the device the course runs on.

    Args:
        prefer: ``None`` (automatic: ``cuda``, then ``mps``, then ``cpu``), or one of
            ``"cuda"``, ``"mps"``, ``"cpu"``. The environment variable ``LDM_TEACH_DEVICE``
            overrides the automatic choice (useful to force ``cpu`` on a GPU machine).
    Returns:
        A ``torch.device``.
    Raises:
        ValueError: if ``prefer`` names an unknown device or one that is not available.
    """
    source = "prefer" if prefer else "LDM_TEACH_DEVICE"
    choice = prefer or os.environ.get("LDM_TEACH_DEVICE") or None
    if choice is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice not in ("cuda", "mps", "cpu"):
        raise ValueError(f"{source} must be one of 'cuda', 'mps', 'cpu', got {choice!r}")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{source}='cuda' but torch.cuda.is_available() is False")
    if choice == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise ValueError(f"{source}='mps' but torch.backends.mps.is_available() is False")
    return torch.device(choice)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch so that a rerun prints the same numbers.

    Args:
        seed: a non-negative integer.
    Returns:
        A CPU ``torch.Generator`` seeded with ``seed``, for code that takes a generator.
    Raises:
        ValueError: if ``seed`` is negative or not an integer.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def check_device(device) -> torch.device:
    """``device`` (a string such as "cpu" or "cuda:0", or a ``torch.device``) as a
    ``torch.device`` that exists on this machine.

    Raises:
        ValueError: naming ``device``, if it is not a device name torch knows ("gpu", ""),
            or its backend (CUDA, MPS) is not available here.
    """
    if isinstance(device, bool) or not isinstance(device, (str, torch.device)):
        raise ValueError(
            f"device must be a device name such as 'cpu' or 'cuda', or a "
            f"torch.device, got {device!r}"
        )
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise ValueError(
            f"device must be a device name such as 'cpu', 'cuda' or 'mps', got {device!r}"
        ) from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but torch.cuda.is_available() is False here "
            "(use 'cpu', or ldm_teach.default_device())"
        )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} but torch.backends.mps.is_available() is False")
    return dev
