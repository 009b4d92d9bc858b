"""The shapes a tensor takes on its way through a network, read off with forward hooks.

``output_shapes(encoder, x, kinds=(ResnetBlock, Downsample, SelfAttention2d),
names=("conv_in", "norm_out", "conv_out"))`` lists, in the order they run, the chosen
submodules and the shape of what each returns: the table a paper's architecture figure
draws, measured on the real network.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn


def output_shapes(
    module: nn.Module,
    x: Tensor,
    kinds: tuple[type[nn.Module], ...] = (),
    names: Iterable[str] = (),
) -> list[tuple[str, tuple[int, ...]]]:
    """Run ``module(x)`` once and record the output shape of selected submodules.

    Args:
        module: the network (its ``forward`` takes ``x``).
        x: its input tensor, e.g. one image (1, C, H, W).
        kinds: record every submodule that is an instance of one of these classes.
        names: also record these submodules, by their ``named_modules()`` name
            ("conv_in", "down.0.blocks.0"). With neither ``kinds`` nor ``names``, every
            leaf submodule (one without children) is recorded.
    Returns:
        [(name, shape), ...] in the order the submodules returned during the forward pass
        (a submodule that runs twice appears twice); outputs that are not tensors are
        skipped. Runs under ``torch.no_grad()``; the hooks are removed afterwards.
    Raises:
        ValueError: if ``module`` is not a module, ``kinds`` is not a tuple of classes, or
            ``names`` holds a name the module does not have (the message lists a few).
    """
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(kinds, tuple) or not all(isinstance(k, type) for k in kinds):
        raise ValueError(f"kinds must be a tuple of module classes, got {kinds!r}")
    names = {names} if isinstance(names, str) else set(names)
    available = dict(module.named_modules())
    missing = sorted(names - set(available))
    if missing:
        raise ValueError(
            f"names {missing} are not submodules of {type(module).__name__}; "
            f"some that are: {sorted(n for n in available if n)[:8]}"
        )
    everything = not kinds and not names
    chosen = [
        (n, m)
        for n, m in available.items()
        if n in names
        or (kinds and isinstance(m, kinds))
        or (everything and n and not any(True for _ in m.children()))
    ]
    shapes: list[tuple[str, tuple[int, ...]]] = []

    def record(name: str):
        def hook(_module, _inputs, output):
            if isinstance(output, Tensor):
                shapes.append((name, tuple(output.shape)))

        return hook

    hooks = [m.register_forward_hook(record(n)) for n, m in chosen]
    try:
        with torch.no_grad():
            module(x)
    finally:
        for h in hooks:
            h.remove()
    return shapes
