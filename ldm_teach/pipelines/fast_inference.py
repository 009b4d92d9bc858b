"""Switches for faster sampling, each measurable on its own (course Sec. 10.4.4, 推理优化技术).

``with fast_inference(model, ...):`` changes how ``model.sample`` runs the UNet for the
duration of the block and puts everything back afterwards (also on an error):

| switch                     | what changes                                         | exact? |
|----------------------------|------------------------------------------------------|--------|
| ``cache_context=True``     | cross-attention K = c W_K, V = c W_V computed once    | yes    |
|                            | per sampling run, not at every step                  |        |
| ``attention="sdpa"``       | ``F.scaled_dot_product_attention`` instead of the    | ~1e-6  |
|                            | softmax written out (:mod:`ldm_teach.nn.attention`)  |        |
| ``channels_last=True``     | NHWC memory format of the UNet's weights and input   | ~1e-6  |
| ``bf16=True``              | the UNet under ``torch.autocast("cpu", bfloat16)``;   | no     |
|                            | its output is cast back to float32                   |        |
| ``deep_cache_interval=k``  | DeepCache (Ma et al. 2023, arXiv:2312.00858): deep   | k=1    |
|                            | features recomputed every k steps only               |        |
| ``compile=True``           | ``torch.compile`` of the UNet (first call compiles)  | ~1e-6  |

Two more switches are arguments of ``TextToImage.sample``: ``num_inference_steps`` (DDIM,
Song et al. 2020) and ``batch_guidance`` (guidance's two branches in one call of 2B).

Attention maps still work inside the block: a layer with an ``attention_control`` hook
computes the weights explicitly whatever ``attention`` says, and the context cache only
replaces K and V, which come before the weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import torch
from torch import Tensor, nn

from ldm_teach.argcheck import check_bool, check_int
from ldm_teach.nn.attention import attention_implementation
from ldm_teach.nn.cross_attention import CrossAttention
from ldm_teach.pipelines.deepcache import DeepCacheUNet


@contextmanager
def cache_context_keys_values(unet: nn.Module) -> Iterator[None]:
    """Turn on the (context -> K, V) cache of every cross-attention layer of ``unet`` for
    the ``with`` block; emptied and turned off afterwards.

    Raises:
        ValueError: if ``unet`` has no cross-attention layer with an external context.
    """
    layers = [m for m in unet.modules() if isinstance(m, CrossAttention)]  # self-attention
    if not layers:  # layers (context None) never use the cache
        raise ValueError("unet has no cross-attention layers (build it with context_dim)")
    for layer in layers:
        layer.context_cache = []
    try:
        yield
    finally:
        for layer in layers:
            layer.context_cache = None


class InferenceUNet(nn.Module):
    """The UNet (or a :class:`DeepCacheUNet`) called in channels_last and/or bf16.

    Args:
        unet: the network to call, ``unet(x, t, context=..., context_mask=...)``.
        channels_last: pass x in ``torch.channels_last`` memory format.
        bf16: run under ``torch.autocast(x.device.type, dtype=torch.bfloat16)``.
    Forward:
        x (B, C, H, W) float32, t (B,) -> (B, C_out, H, W) float32 (cast back from bf16).
    """

    def __init__(self, unet: nn.Module, channels_last: bool = False, bf16: bool = False) -> None:
        super().__init__()
        self.unet = unet
        self.channels_last = check_bool(channels_last, "channels_last")
        self.bf16 = check_bool(bf16, "bf16")

    def forward(
        self,
        x: Tensor,
        t: Tensor,
        context: Tensor | None = None,
        context_mask: Tensor | None = None,
    ) -> Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)  # (B, C, H, W), NHWC in memory
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = self.unet(x, t, context=context, context_mask=context_mask)
        return out.float().contiguous()


@contextmanager
def fast_inference(
    model: nn.Module,
    *,
    cache_context: bool = False,
    attention: str = "explicit",
    channels_last: bool = False,
    bf16: bool = False,
    deep_cache_interval: int | None = None,
    compile: bool = False,
) -> Iterator[nn.Module]:
    """Sample ``model`` (a :class:`~ldm_teach.pipelines.TextToImage`) with the chosen
    optimisations inside the ``with`` block; the defaults change nothing.

    Args:
        cache_context: compute cross-attention keys and values once per context.
        attention: "explicit" or "sdpa" (see :mod:`ldm_teach.nn.attention`).
        channels_last: NHWC memory format for the UNet's weights and input.
        bf16: bfloat16 autocast around every UNet call.
        deep_cache_interval: DeepCache's k (an int >= 1), or None for no DeepCache.
        compile: ``torch.compile`` the network (its first call compiles, which takes
            seconds to minutes; errors surface at that call).
    Yields:
        the module that ``model.unet`` is for the block's duration.
    Raises:
        ValueError: for an argument out of range (named), or a model without a UNet.
    """
    unet = getattr(model, "unet", None)
    if not isinstance(unet, nn.Module):
        raise ValueError(f"model must have a .unet module, got {type(model).__name__}")
    for name, value in (
        ("cache_context", cache_context),
        ("channels_last", channels_last),
        ("bf16", bf16),
        ("compile", compile),
    ):
        check_bool(value, name)
    if deep_cache_interval is not None:
        check_int(deep_cache_interval, "deep_cache_interval", lo=1)
    with ExitStack() as stack:
        stack.enter_context(attention_implementation(attention))
        if cache_context:
            stack.enter_context(cache_context_keys_values(unet))
        net: nn.Module = unet
        if deep_cache_interval is not None:
            net = DeepCacheUNet(unet, deep_cache_interval)
        if compile:
            net = torch.compile(net, dynamic=False)
        if channels_last:
            unet.to(memory_format=torch.channels_last)
            stack.callback(unet.to, memory_format=torch.contiguous_format)
        wrapper = InferenceUNet(net, channels_last, bf16) if channels_last or bf16 else net
        model.unet = wrapper
        stack.callback(setattr, model, "unet", unet)
        yield wrapper
