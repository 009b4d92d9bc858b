"""Deployment (the chapter's Sec. 10.5.3, 模型压缩与部署): a text-to-image model exported
to ONNX and sampled with ONNX Runtime and numpy only.

    export_onnx(model, folder)      text encoder, UNet and decoder graphs + ldm_onnx.json
    check_onnx(model, folder)       max |ONNX Runtime - PyTorch| per graph and for sampling
    OnnxTextToImage(folder).sample  DDIM with classifier-free guidance, no torch

``export_onnx`` and ``check_onnx`` need torch and are imported on first use, so that
``from ldm_teach.deploy import OnnxTextToImage`` works where torch is not installed.
"""

from ldm_teach.deploy.onnx_sampler import (
    NumpyWordTokenizer,
    OnnxTextToImage,
    ddim_timesteps,
    load_session,
    read_config,
)

__all__ = [
    "NumpyWordTokenizer",
    "OnnxTextToImage",
    "check_onnx",
    "ddim_timesteps",
    "export_onnx",
    "load_session",
    "read_config",
]


def __getattr__(name: str):
    if name in ("export_onnx", "check_onnx"):
        from ldm_teach.deploy import onnx_export

        return getattr(onnx_export, name)
    raise AttributeError(f"module 'ldm_teach.deploy' has no attribute {name!r}")
