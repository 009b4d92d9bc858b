"""Export a text-to-image latent diffusion model to ONNX (the chapter's Sec. 10.5.3,
模型压缩与部署): three graphs and one JSON file, enough to sample without PyTorch.

    text_encoder.onnx   input_ids (B, L) int64            -> context (B, L, D) float32
    unet.onnx           z_t (B, c, h, w) float32,
                        t (B,) int64, context (B, L, D)   -> output (B, c, h, w)  (ε, v or x0)
    decoder.onnx        z (B, c, h, w) scaled latents     -> images (B, 3, h·f, w·f) in [-1, 1]
    ldm_onnx.json       ᾱ_t, the timestep conventions, prediction type, guidance defaults,
                        scale_factor, latent shape and the tokenizer's vocabulary

B (batch), L (sequence length, up to the text encoder's positions) and h, w (latent
height and width, multiples of the UNet's divisor) are dynamic axes. The decoder graph is
``TextToImage.decode``: D(z / scale_factor) clamped to [-1, 1], so the sampler never needs
scale_factor itself (it is in the JSON for reference). The sampler that reads the folder is
:class:`ldm_teach.deploy.OnnxTextToImage` (numpy and onnxruntime only).

Which exporter. ``torch.onnx.export`` in torch 2.14 defaults to the dynamo exporter
(``torch.export`` + onnxscript). It refuses all three course networks: each checks the
*values* of its inputs in Python before computing (timesteps in [0, 999], every row of ids
holding the end token, finite latents: ``if bool(bad.any()): raise ValueError``), and
torch.export cannot trace a branch on data (``GuardOnDataDependentSymNode``). The
TorchScript tracer (``dynamo=False``) runs those checks once, on the example inputs, and
records only the arithmetic, which is what a deployed graph should hold; its deprecation
warning and its TracerWarnings about those checks are silenced here for that reason.
Rewriting the checks for torch.export (``torch._check``) would change modules the course
reads line by line.
"""

from __future__ import annotations

import inspect
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ldm_teach.argcheck import check_bool, check_int
from ldm_teach.deploy.onnx_sampler import (
    CONFIG_FILE,
    FILES,
    FORMAT,
    OnnxTextToImage,
    load_session,
)
from ldm_teach.pipelines import TextToImage
from ldm_teach.text import WordTokenizer
from ldm_teach.training.checkpoint import check_output_dir

DEFAULT_OPSET = 17  # the parity figures of the docs were measured at opset 17
OPSETS = (14, 20)  # scaled dot-product attention needs 14; the tracer stops at 20


class _TextEncoderGraph(nn.Module):
    """(B, L) ids -> (B, L, D) last hidden states (``TextToImage.encode_text``)."""

    def __init__(self, model: TextToImage) -> None:
        super().__init__()
        self.text_encoder = model.text_encoder

    def forward(self, input_ids: Tensor) -> Tensor:
        return self.text_encoder(input_ids).last_hidden_state


class _UNetGraph(nn.Module):
    """(z_t, t, context) -> the UNet's output, context by cross-attention."""

    def __init__(self, model: TextToImage) -> None:
        super().__init__()
        self.unet = model.unet

    def forward(self, z_t: Tensor, t: Tensor, context: Tensor) -> Tensor:
        return self.unet(z_t, t, context=context)


class _DecoderGraph(nn.Module):
    """Scaled latents -> images in [-1, 1] (``TextToImage.decode``)."""

    def __init__(self, model: TextToImage) -> None:
        super().__init__()
        self.autoencoder = model.autoencoder
        self.register_buffer("scale_factor", model.scale_factor.detach().clone())

    def forward(self, z: Tensor) -> Tensor:
        return self.autoencoder.decode(z / self.scale_factor).clamp(-1.0, 1.0)


def _example_ids(model: TextToImage, batch: int, length: int, generator) -> Tensor:
    """(batch, length) ids as the tokenizer writes them: start, words, end, end padding."""
    tok = model.tokenizer
    ids = torch.randint(0, tok.start_token_id, (batch, length), generator=generator)
    ids[:, 0] = tok.start_token_id
    ends = torch.randint(1, length, (batch,), generator=generator)  # first end token
    ids[torch.arange(length)[None, :] >= ends[:, None]] = tok.end_token_id
    return ids


def _graphs(model: TextToImage, batch: int, length: int, latent: tuple, generator) -> dict:
    """name -> (module, example inputs, input names, output name, dynamic axes)."""
    c, h, w = latent
    D = model.text_encoder.config.width
    T = model.schedule.num_train_timesteps
    z = torch.randn(batch, c, h, w, generator=generator)
    return {
        "text_encoder": (
            _TextEncoderGraph(model),
            (_example_ids(model, batch, length, generator),),
            ["input_ids"],
            "context",
            {"input_ids": {0: "batch", 1: "sequence"}, "context": {0: "batch", 1: "sequence"}},
        ),
        "unet": (
            _UNetGraph(model),
            (z, torch.randint(0, T, (batch,), generator=generator), torch.randn(batch, length, D)),
            ["z_t", "t", "context"],
            "output",
            {
                "z_t": {0: "batch", 2: "height", 3: "width"},
                "t": {0: "batch"},
                "context": {0: "batch", 1: "sequence"},
                "output": {0: "batch", 2: "height", 3: "width"},
            },
        ),
        "decoder": (
            _DecoderGraph(model),
            (z,),
            ["z"],
            "images",
            {"z": {0: "batch", 2: "height", 3: "width"}, "images": {0: "batch", 2: "H", 3: "W"}},
        ),
    }


def _check_export(model, folder, opset, overwrite) -> tuple[Path, int]:
    if not isinstance(model, TextToImage):
        raise ValueError(f"model must be a TextToImage, got {type(model).__name__}")
    if not isinstance(model.tokenizer, WordTokenizer):
        raise ValueError(
            f"model.tokenizer must be a WordTokenizer (the numpy sampler reads its vocabulary "
            f"from the JSON), got {type(model.tokenizer).__name__}"
        )
    opset = DEFAULT_OPSET if opset is None else check_int(opset, "opset", *OPSETS)
    overwrite = check_bool(overwrite, "overwrite")
    folder = check_output_dir(folder, what="folder")
    taken = [n for n in (*FILES.values(), CONFIG_FILE) if (folder / n).exists()]
    if taken and not overwrite:
        raise FileExistsError(
            f"folder {folder} already holds {', '.join(taken)}; pass overwrite=True "
            f"(--overwrite) to replace them, or choose another folder"
        )
    return folder, opset


def _sampler_config(model: TextToImage, opset: int) -> dict:
    """Everything :class:`OnnxTextToImage` needs besides the graphs (JSON-ready)."""
    defaults = inspect.signature(TextToImage.sample).parameters
    tok = model.tokenizer
    f = model.autoencoder.downsample_factor
    return {
        "format": FORMAT,
        "files": dict(FILES),
        "exporter": f"torch.onnx.export (TorchScript tracer), torch {torch.__version__}",
        "opset": opset,
        "prediction_type": model.prediction_type,
        "schedule": {
            "num_train_timesteps": model.schedule.num_train_timesteps,
            # float64, written with repr: the JSON round trip is exact
            "alphas_cumprod": model.schedule.alphas_cumprod.tolist(),
            "timestep_spacing": model.timestep_spacing,
            "steps_offset": model.steps_offset,
            "set_alpha_to_one": model.set_alpha_to_one,
        },
        "sampling_defaults": {
            k: defaults[k].default
            for k in ("guidance_scale", "guidance_rescale", "num_inference_steps")
        },
        "scale_factor": float(model.scale_factor),
        "image_size": model.image_size,
        "downsample_factor": f,
        "size_divisor": f * model.unet.size_divisor,  # image H, W must be multiples
        "latent_shape": list(model.latent_shape()),
        "context_dim": model.text_encoder.config.width,
        "max_sequence_length": model.text_encoder.config.context_length,
        "tokenizer": {
            "kind": "word",
            "words": tok.to_dict()["words"],  # ids 0 .. n-1, then start, end
            "context_length": tok.context_length,
            "start_token_id": tok.start_token_id,
            "end_token_id": tok.end_token_id,
            "pad_token_id": tok.pad_token_id,
        },
    }


def _write_atomic(folder: Path, name: str, write) -> None:
    """``write(tmp_path)``, then rename the temporary file over ``folder / name``."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, folder / name)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _cpu_float32(model: TextToImage) -> TextToImage:
    """The model itself on the CPU in float32, or a copy there (the caller's is untouched)."""
    p = next(model.parameters())
    if p.device.type == "cpu" and p.dtype == torch.float32:
        return model
    import copy

    return copy.deepcopy(model).to("cpu", torch.float32)


@torch.no_grad()
def export_onnx(
    model: TextToImage,
    folder: str | os.PathLike,
    *,
    opset: int | None = None,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write ``model``'s text encoder, UNet and decoder as ONNX graphs, plus the JSON the
    numpy sampler reads, into ``folder`` (created if missing; other files left alone).

    Args:
        model: a :class:`~ldm_teach.pipelines.TextToImage` with a word tokenizer; exported
            in float32 on the CPU (a model elsewhere is copied, never moved).
        folder: where to write ``text_encoder.onnx``, ``unet.onnx``, ``decoder.onnx`` and
            ``ldm_onnx.json``.
        opset: the ONNX opset, an int in [14, 20]; None is 17.
        overwrite: replace those four files if the folder already holds any of them.
    Returns:
        {"text_encoder", "unet", "decoder", "config"} -> the path written. Each file is
        written to a temporary name and renamed, so an error leaves no half-written file.
        A graph holds its weights, so each is limited to protobuf's 2 GB (the course's
        models are a few MB; Stable Diffusion's float32 UNet would need external data).
    Raises:
        ValueError: if model is not a TextToImage with a WordTokenizer, or opset is out of
            range.
        FileExistsError: naming the folder, if it holds an export and overwrite is False.
        NotADirectoryError, PermissionError: if the folder cannot be written.
    """
    folder, opset = _check_export(model, folder, opset, overwrite)
    folder.mkdir(parents=True, exist_ok=True)
    model = _cpu_float32(model)
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(0)
    latent = model.latent_shape()
    graphs = _graphs(model, 2, model.tokenizer.context_length, latent, generator)
    written = {}
    try:
        for name, (module, args, inputs, output, axes) in graphs.items():

            def write(path, module=module, args=args, inputs=inputs, output=output, axes=axes):
                with warnings.catch_warnings():
                    # the tracer is chosen on purpose (module docstring); its warnings are
                    # about the input checks, which run once on the example inputs
                    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
                    warnings.filterwarnings("ignore", message=".*legacy TorchScript-based")
                    warnings.filterwarnings("ignore", category=DeprecationWarning, module="torch")
                    torch.onnx.export(
                        module,
                        args,
                        path,
                        input_names=inputs,
                        output_names=[output],
                        dynamic_axes=axes,
                        opset_version=opset,
                        dynamo=False,
                    )

            _write_atomic(folder, FILES[name], write)
            written[name] = folder / FILES[name]
        config = json.dumps(_sampler_config(model, opset), indent=1)
        _write_atomic(folder, CONFIG_FILE, lambda p: Path(p).write_text(config, encoding="utf-8"))
        written["config"] = folder / CONFIG_FILE
    finally:
        model.train(was_training)
    return written


@torch.no_grad()
def check_onnx(
    model: TextToImage,
    folder: str | os.PathLike,
    *,
    seed: int = 0,
    num_inference_steps: int | None = None,
) -> dict[str, float]:
    """Max |ONNX Runtime - PyTorch| of each exported graph on random inputs, and of the
    sampler on one prompt from the same starting noise.

    Each graph runs on inputs of two shapes: the export's (B = 2, L = the tokenizer's
    length, the training latent size) and another (B = 3, a shorter L, a wider latent),
    so the dynamic axes are exercised. ids are well-formed (start, words, end, padding),
    t uniform in [0, T-1], latents standard normal.

    Args:
        model: the model that was exported to ``folder``.
        folder: a folder written by :func:`export_onnx`.
        seed: seeds the random inputs.
        num_inference_steps: DDIM steps of the sampler check (None: the model's default).
    Returns:
        {"text_encoder", "unet", "decoder", "sampler"} -> max |Δ| as a float (the first
        three in the graphs' units: hidden states, network output, image values in [-1, 1];
        "sampler": images of ``model.sample`` vs :meth:`OnnxTextToImage.sample`, guidance
        3 with the empty negative prompt). Float32 rounding gives about 1e-6 per graph and
        1e-5 after 25 steps.
    Raises:
        ValueError: on a bad model, seed or step count; FileNotFoundError if an exported
            file is missing.
    """
    folder = Path(folder)
    seed = check_int(seed, "seed", 0)
    model = _cpu_float32(model)
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    c, h, w = model.latent_shape()
    L = model.tokenizer.context_length
    d = model.unet.size_divisor
    gaps = {}
    try:
        shapes = ((2, L, (c, h, w)), (3, max(3, L // 2 + 1), (c, h, w + d)))
        for batch, length, latent in shapes:
            graphs = _graphs(model, batch, length, latent, generator)
            for name, (module, args, inputs, _, _) in graphs.items():
                session = load_session(folder / FILES[name])
                got = session.run(None, {n: a.numpy() for n, a in zip(inputs, args, strict=True)})
                gap = float(np.abs(got[0] - module(*args).numpy()).max())
                gaps[name] = max(gaps.get(name, 0.0), gap)
        words = model.tokenizer.to_dict()["words"]
        prompt = " ".join(words[:3])
        x_T = torch.randn(1, c, h, w, generator=generator)
        steps = {} if num_inference_steps is None else {"num_inference_steps": num_inference_steps}
        ours = model.sample(prompt, x_T=x_T, **steps).numpy()
        theirs = OnnxTextToImage(folder).sample(prompt, x_T=x_T.numpy(), **steps)
        gaps["sampler"] = float(np.abs(ours - theirs).max())
    finally:
        model.train(was_training)
    return gaps
