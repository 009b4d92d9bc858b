"""LoRA on the course UNet through peft (Hu et al. 2021, arXiv:2106.09685, Sec. 4.1;
course Sec. 10.5.2).

A frozen weight W0 (d_out x d_in) of a Linear (or Conv2d) layer gets a trainable low-rank
update:

    h = W0 x + (α / r) B A x          A: r x d_in (Kaiming-uniform), B: d_out x r (zeros)
    merged: W = W0 + (α / r) B A      the same layer, no extra cost at inference

B = 0 at initialisation, so the adapted UNet starts as the base one exactly. As in Stable
Diffusion LoRAs (the diffusers and kohya trainers), the default targets are the attention
projections ``to_q``, ``to_k``, ``to_v`` and ``to_out`` of every self- and cross-attention;
``include_convs`` adds the ResNet blocks' 3x3 ``conv1``/``conv2`` and the transformers'
``proj_in``/``proj_out`` (LoCon-style).

peft's ``inject_adapter_in_model`` adds the adapters in place: the UNet stays a
:class:`~ldm_teach.models.UNet` with its own ``forward(x, t, context=...)``, which
``TextToImage`` calls. (``get_peft_model`` would wrap it in a ``PeftModel`` whose forward
takes ``*args, **kwargs``.) A list in ``target_modules`` matches module names by suffix.
The adapters are saved as peft does: ``adapter_model.safetensors`` (keys without the
adapter name) and ``adapter_config.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from peft import (
    LoraConfig,
    get_peft_model_state_dict,
    inject_adapter_in_model,
    set_peft_model_state_dict,
)
from peft.tuners.tuners_utils import BaseTunerLayer
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ldm_teach.adapt.finetune import encode_examples, finetune
from ldm_teach.argcheck import check_bool, check_int, check_real
from ldm_teach.models import UNet
from ldm_teach.pipelines import TextToImage

ATTENTION_PROJECTIONS = ("to_q", "to_k", "to_v", "to_out")
CONV_TARGETS = ("conv1", "conv2", "proj_in", "proj_out")
WEIGHTS_NAME = "adapter_model.safetensors"
CONFIG_NAME = "adapter_config.json"


def _lora_layers(unet: nn.Module) -> list[BaseTunerLayer]:
    return [m for m in unet.modules() if isinstance(m, BaseTunerLayer)]


def has_lora(unet: nn.Module) -> bool:
    """True if peft adapters were injected into ``unet``."""
    return bool(_lora_layers(unet))


def add_lora(
    unet: UNet,
    r: int = 4,
    alpha: float = 4,
    target_modules: Sequence[str] = ATTENTION_PROJECTIONS,
    include_convs: bool = False,
) -> UNet:
    """Inject LoRA adapters into ``unet`` in place and freeze everything else.

    Args:
        unet: a course :class:`~ldm_teach.models.UNet` without adapters.
        r: rank of each update B A, int >= 1.
        alpha: α, the update is scaled by α / r (peft's ``lora_alpha``), > 0. Changing r
            without alpha changes the effective step size.
        target_modules: module-name suffixes to adapt (Linear or Conv2d layers).
        include_convs: also adapt ``CONV_TARGETS``.
    Returns:
        The same ``unet`` (same class and forward), whose only trainable parameters are
        the ``lora_A`` / ``lora_B`` weights; its outputs are unchanged (B = 0).
    Raises:
        ValueError: if unet is not a UNet, already has adapters, r or alpha is out of
            range, target_modules is empty or not a list of str, or matches no layer.
    """
    r, alpha, targets = _check_lora_args(unet, r, alpha, target_modules)
    if check_bool(include_convs, "include_convs"):
        targets = [*targets, *(c for c in CONV_TARGETS if c not in targets)]
    names = [n for n, _ in unet.named_modules()]
    if not any(n.split(".")[-1] in targets for n in names):
        raise ValueError(f"target_modules {targets} match no layer of the UNet")
    config = LoraConfig(r=r, lora_alpha=alpha, target_modules=targets, lora_dropout=0.0)
    unet.requires_grad_(False)
    inject_adapter_in_model(config, unet)
    unet._lora_settings = {"r": r, "lora_alpha": alpha, "target_modules": targets}
    return unet


def _check_lora_args(unet, r, alpha, target_modules) -> tuple[int, float, list[str]]:
    if not isinstance(unet, UNet):
        raise ValueError(f"unet must be a course UNet, got {type(unet).__name__}")
    if has_lora(unet):
        raise ValueError("unet already has LoRA adapters (load into a fresh UNet)")
    r = check_int(r, "r", lo=1)
    alpha = check_real(alpha, "alpha", lo=0.0, lo_open=True)
    if (
        isinstance(target_modules, str)
        or not target_modules
        or not all(isinstance(t, str) and t for t in target_modules)
    ):
        raise ValueError(
            f"target_modules must be a non-empty list of module names, got {target_modules!r}"
        )
    return r, alpha, list(target_modules)


def parameter_counts(module: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts of ``module``, adapters included in the total
    (peft's ``print_trainable_parameters`` convention); trainable / total is the fraction."""
    params = list(module.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def lora_state_dict(unet: nn.Module) -> dict[str, Tensor]:
    """The adapter tensors only, keys as peft saves them (``...to_q.lora_A.weight``)."""
    if not has_lora(unet):
        raise ValueError("unet has no LoRA adapters (call add_lora first)")
    return get_peft_model_state_dict(unet)


def save_lora(unet: nn.Module, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write the adapters to the folder ``path``: ``adapter_model.safetensors`` (float32
    tensors) and ``adapter_config.json`` (r, lora_alpha, target_modules).

    Returns:
        The folder. Merged adapters are saved as their A and B all the same.
    Raises:
        ValueError: if unet has no adapters.
        FileExistsError: if either file exists and ``overwrite`` is False (nothing saved
            is replaced silently).
    """
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in lora_state_dict(unet).items()}
    folder = Path(path)
    files = (folder / WEIGHTS_NAME, folder / CONFIG_NAME)
    existing = [str(f) for f in files if f.exists()]
    if existing and not check_bool(overwrite, "overwrite"):
        raise FileExistsError(f"{existing} exist; pass overwrite=True to replace them")
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, files[0], metadata={"format": "pt"})
    config = {"peft_type": "LORA", **unet._lora_settings, "lora_dropout": 0.0, "bias": "none"}
    files[1].write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return folder


def load_lora(unet: UNet, path: str | os.PathLike) -> UNet:
    """Add the adapters saved by :func:`save_lora` in ``path`` to a fresh ``unet``.

    Returns:
        The same ``unet`` with the adapters injected (unmerged) and loaded exactly.
    Raises:
        FileNotFoundError: if a file is missing.
        ValueError: as :func:`add_lora`, or if the saved tensors do not fit the UNet.
    """
    folder = Path(path)
    config = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    tensors = load_file(folder / WEIGHTS_NAME)
    add_lora(unet, config["r"], config["lora_alpha"], config["target_modules"])
    expected = set(get_peft_model_state_dict(unet))
    if set(tensors) != expected:
        raise ValueError(
            f"the saved adapters do not fit this UNet: {len(set(tensors) - expected)} "
            f"unexpected and {len(expected - set(tensors))} missing tensors"
        )
    dtype = unet.conv_in.weight.dtype
    set_peft_model_state_dict(unet, {k: v.to(dtype) for k, v in tensors.items()})
    return unet


def merge_lora(unet: nn.Module) -> None:
    """W ← W0 + (α / r) B A in every adapted layer (peft's ``merge``); the adapters stay
    and are skipped in the forward pass until :func:`unmerge_lora`."""
    for layer in _lora_layers(unet) or _no_lora():
        layer.merge()


def unmerge_lora(unet: nn.Module) -> None:
    """W ← W - (α / r) B A: undo :func:`merge_lora` (to float rounding)."""
    for layer in _lora_layers(unet) or _no_lora():
        layer.unmerge()


def _no_lora():
    raise ValueError("unet has no LoRA adapters (call add_lora first)")


def train_lora(
    model: TextToImage,
    images: Tensor,
    captions: Sequence[str],
    steps: int = 100,
    lr: float = 1e-3,
    generator: torch.Generator | None = None,
    batch_size: int = 8,
) -> list[float]:
    """Fine-tune only ``model.unet``'s adapters on captioned images with ``model.loss``.

    Args:
        model: a TextToImage whose UNet went through :func:`add_lora` (unmerged).
        images: (N, 3, H, W) float32 in [-1, 1]; captions: N strings the tokenizer knows.
        steps, lr, generator, batch_size: as :func:`~ldm_teach.adapt.finetune.finetune`.
    Returns:
        The loss of each step.
    Raises:
        ValueError: if the UNet has no adapters, is merged, or has trainable parameters
            other than the adapters; and as ``finetune``.
    """
    unet = model.unet
    if any(layer.merged for layer in _lora_layers(unet) or _no_lora()):
        raise ValueError("the adapters are merged: call unmerge_lora before training")
    trainable = [(n, p) for n, p in unet.named_parameters() if p.requires_grad]
    others = [n for n, _ in trainable if ".lora_" not in n]
    if others:
        raise ValueError(f"only the adapters may be trainable, but so are {others[:3]}")
    z0, input_ids = encode_examples(model, images, captions)
    params = [p for _, p in trainable]
    return finetune(model, params, z0, input_ids, steps, lr, generator, batch_size)
