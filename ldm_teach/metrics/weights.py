"""Measurements of a network's weights: how many there are, and how large each
convolution can make its input (its spectral norm).

The spectral norm of a convolution is taken, as spectral normalisation itself takes it
(Miyato et al. 2018, arXiv:1802.05957, Sec. 2.1 and Appendix C.1), as the largest singular
value sigma(W) of the weight reshaped to a (out_channels, in_channels * kH * kW) matrix.
Spectral normalisation divides W by an estimate of sigma(W), so on a normalised network
these values come out close to 1.
"""

from __future__ import annotations

import torch
from torch import nn

from ldm_teach.argcheck import check_bool


def _check_module(module: nn.Module) -> None:
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch.nn.Module, got {type(module).__name__}")


def parameter_count(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters of ``module`` (shared tensors counted once).

    Args:
        module: any ``torch.nn.Module``.
        trainable_only: count only parameters with ``requires_grad``; a bool.
    Returns:
        The count, an int >= 0.
    Raises:
        ValueError: if ``module`` is not a module or ``trainable_only`` not a bool.
    """
    _check_module(module)
    trainable_only = check_bool(trainable_only, "trainable_only")
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def conv_spectral_norms(module: nn.Module) -> list[float]:
    """Largest singular value of every ``Conv2d`` weight in ``module``, in module order.

    Each weight (out, in, kH, kW) is flattened to (out, in * kH * kW) and its spectral norm
    (``torch.linalg.matrix_norm(..., ord=2)``) computed exactly. Under spectral
    normalisation (``torch.nn.utils.parametrizations.spectral_norm``) the weight read is
    the normalised one; in training mode reading it runs one more power iteration.

    Args:
        module: any ``torch.nn.Module``.
    Returns:
        A list of floats >= 0, one per Conv2d (empty if there is none).
    Raises:
        ValueError: if ``module`` is not a module.
    """
    _check_module(module)
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    return [torch.linalg.matrix_norm(m.weight.flatten(1), ord=2).item() for m in convs]
