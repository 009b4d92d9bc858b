"""Text to image with ONNX Runtime and numpy only: the deployed form of
``TextToImage.sample`` (the chapter's Sec. 10.5.3, 模型压缩与部署).

A folder written by :func:`ldm_teach.deploy.export_onnx` holds three graphs and a JSON
file; this module needs neither torch nor any ldm_teach module that imports it, so it runs
where only ``onnxruntime`` and ``numpy`` are installed. The loop is the course's sampler,
step for step:

    ids      = tokenize(prompts), tokenize(negative prompts or "")     (B, L) int64
    c, c_neg = text_encoder(ids)                                       (B, L, D)
    for t, t_prev in the DDIM timesteps (Song et al. 2020, arXiv:2010.02502):
        out_neg, out = unet([z, z], [t, t], [c_neg, c])                one batch of 2B
        out  = out_neg + w (out - out_neg)                             Ho & Salimans 2022, Eq. 6
        out  = φ · out · std(out_c) / std(out) + (1 - φ) out           Lin et al. 2023, Eq. 15-16
        x̂0, ε̂ = from out by the prediction type                         (ε, v or x0)
        z    = sqrt(ᾱ_prev) x̂0 + sqrt(1 - ᾱ_prev) ε̂                     DDIM Eq. 12, η = 0
    images = decoder(z)                                                (B, 3, H, W) in [-1, 1]

Only the deterministic sampler (η = 0) is implemented: it is what a deployment runs, and
from the same starting noise x_T it gives the same images as ``TextToImage.sample`` up to
float32 rounding (about 1e-5 after 25 steps; ``check_onnx`` measures it). The numpy
coefficients follow ``ldm_teach.diffusion`` exactly: ᾱ in float64, each coefficient
rounded to float32 before it multiplies the float32 latents.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ldm_teach.argcheck import check_int, check_real

FORMAT = "ldm-teach-onnx/1"
FILES = {"text_encoder": "text_encoder.onnx", "unet": "unet.onnx", "decoder": "decoder.onnx"}
CONFIG_FILE = "ldm_onnx.json"
SPACINGS = ("leading", "trailing", "linspace")
MAX_GUIDANCE_SCALE = 100.0
# the splitter of ldm_teach.text.WordTokenizer (lower case, then words, numbers and single
# punctuation marks); tests/deploy checks both give the same ids
_WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def load_session(path: str | os.PathLike, num_threads: int | None = None) -> ort.InferenceSession:
    """An ONNX Runtime CPU session for the graph at ``path``.

    Args:
        num_threads: ONNX Runtime's intra-op threads, an int >= 1; None lets it choose
            (one per physical core).
    Raises:
        FileNotFoundError: if ``path`` is not a file. ValueError: on a bad num_threads.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"no ONNX graph at {path} (export one with export_onnx)")
    options = ort.SessionOptions()
    if num_threads is not None:
        options.intra_op_num_threads = check_int(num_threads, "num_threads", 1)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class NumpyWordTokenizer:
    """The course's word tokenizer without torch: same vocabulary, ids and padding as
    ``ldm_teach.text.WordTokenizer`` (CLIP's conventions: start token, words, end token,
    padded with the end token to ``context_length``).

    Args:
        words: the vocabulary; ids 0 .. n-1 in this order, then start (n) and end (n + 1).
        context_length: L, the length of every encoded row, an int >= 3.
    Raises:
        ValueError: on a repeated or empty word, or a bad context_length.
    """

    def __init__(self, words: Sequence[str], context_length: int) -> None:
        self.context_length = check_int(context_length, "context_length", lo=3)
        if len(set(words)) != len(words) or any(_WORD.findall(w) != [w] for w in words):
            raise ValueError(f"words must be distinct single words, got {list(words)!r:.200}")
        self.ids = {w: i for i, w in enumerate(words)}
        self.start_token_id = len(words)
        self.end_token_id = self.pad_token_id = len(words) + 1

    @classmethod
    def from_config(cls, config: dict) -> NumpyWordTokenizer:
        """From the ``"tokenizer"`` entry of ``ldm_onnx.json``."""
        if config.get("kind") != "word":
            raise ValueError(f"only word tokenizers are supported, got {config.get('kind')!r}")
        return cls(config["words"], config["context_length"])

    def encode(self, text: str) -> list[int]:
        """The ids of one text, start and end included, unpadded.

        Raises:
            ValueError: on a non-str, an unknown word (named), or more than context_length
                tokens.
        """
        if not isinstance(text, str):
            raise ValueError(f"text must be a str, got {type(text).__name__}")
        ids = [self.start_token_id]
        for word in _WORD.findall(text.lower()):
            if word not in self.ids:
                raise ValueError(f"unknown word {word!r} in {text!r}: known are {sorted(self.ids)}")
            ids.append(self.ids[word])
        ids.append(self.end_token_id)
        if len(ids) > self.context_length:
            raise ValueError(
                f"{text!r} needs {len(ids)} tokens, more than context_length="
                f"{self.context_length}; shorten it"
            )
        return ids

    def __call__(self, texts: str | Sequence[str]) -> np.ndarray:
        """A text or a non-empty list of texts -> (B, context_length) int64 ids."""
        texts = _as_prompts(texts, "texts")
        out = np.full((len(texts), self.context_length), self.pad_token_id, dtype=np.int64)
        for i, text in enumerate(texts):
            ids = self.encode(text)
            out[i, : len(ids)] = ids
        return out


def read_config(folder: str | os.PathLike) -> dict:
    """``ldm_onnx.json`` of an exported folder, checked to be of this format.

    Raises:
        FileNotFoundError: if the folder has no ldm_onnx.json. ValueError: if it is not
            JSON of format "ldm-teach-onnx/1".
    """
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"folder {folder} has no {CONFIG_FILE} (export with export_onnx)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{path} is not an ldm-teach ONNX export (format {FORMAT!r})")
    return config


def ddim_timesteps(n: int, T: int, spacing: str = "leading", steps_offset: int = 0) -> list[int]:
    """The descending DDIM timesteps, the same numpy arithmetic as
    ``ldm_teach.diffusion.ddim_timesteps`` (diffusers' ``set_timesteps``), repeated here so
    that no torch is needed. Raises ValueError as that function does."""
    n = check_int(n, "num_inference_steps", 1, T)
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")
    if spacing == "leading":
        timesteps = np.arange(n - 1, -1, -1, dtype=np.int64) * (T // n) + steps_offset
        if timesteps[0] > T - 1:
            raise ValueError(f"steps_offset={steps_offset} pushes a timestep past {T - 1}")
    elif spacing == "trailing":
        timesteps = np.round(np.arange(T, 0, -T / n)[:n]).astype(np.int64) - 1
    else:  # "linspace"
        timesteps = np.linspace(0, T - 1, n).round()[::-1].astype(np.int64)
    return [int(t) for t in timesteps]


class OnnxTextToImage:
    """An exported text-to-image model, run by ONNX Runtime on the CPU.

    Args:
        folder: written by :func:`~ldm_teach.deploy.export_onnx`.
        num_threads: ONNX Runtime's intra-op threads per graph (None: its default).
    Attributes:
        config: the JSON; tokenizer: a :class:`NumpyWordTokenizer`; alphas_cumprod: (T,)
        float64 ᾱ_t; prediction_type; sessions: {"text_encoder", "unet", "decoder"}.
    Raises:
        FileNotFoundError, ValueError: as :func:`read_config` and :func:`load_session`.
    """

    def __init__(self, folder: str | os.PathLike, num_threads: int | None = None) -> None:
        self.folder = Path(folder)
        self.config = read_config(folder)
        self.tokenizer = NumpyWordTokenizer.from_config(self.config["tokenizer"])
        schedule = self.config["schedule"]
        self.alphas_cumprod = np.asarray(schedule["alphas_cumprod"], dtype=np.float64)  # ᾱ_t
        self.prediction_type = self.config["prediction_type"]
        self.sessions = {
            name: load_session(self.folder / file, num_threads)
            for name, file in self.config["files"].items()
        }

    # -- the three graphs ------------------------------------------------------------------
    def tokenize(self, prompts: str | Sequence[str]) -> np.ndarray:
        """Prompts -> (B, L) int64 ids (ValueError on an unknown word)."""
        return self.tokenizer(prompts)

    def encode_text(self, input_ids: np.ndarray) -> np.ndarray:
        """(B, L) int64 ids -> (B, L, D) float32 context."""
        return self.sessions["text_encoder"].run(None, {"input_ids": input_ids})[0]

    def unet(self, z_t: np.ndarray, t: np.ndarray, context: np.ndarray) -> np.ndarray:
        """(B, c, h, w) float32, (B,) int64, (B, L, D) float32 -> (B, c, h, w) output."""
        feeds = {"z_t": z_t, "t": t, "context": context}
        return self.sessions["unet"].run(None, feeds)[0]

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Scaled latents (B, c, h, w) -> images (B, 3, h·f, w·f) float32 in [-1, 1]."""
        return self.sessions["decoder"].run(None, {"z": z})[0]

    def timesteps(self, num_inference_steps: int, spacing: str | None = None) -> list[int]:
        """The descending DDIM timesteps (``spacing`` None: the exported model's)."""
        s = self.config["schedule"]
        spacing = s["timestep_spacing"] if spacing is None else spacing
        return ddim_timesteps(
            num_inference_steps, s["num_train_timesteps"], spacing, s["steps_offset"]
        )

    # -- guidance and the DDIM step --------------------------------------------------------
    def guided_output(self, z, t, context, uncond, guidance_scale, guidance_rescale):
        """The UNet's output with classifier-free guidance (``TextToImage.guided_output``):
        both branches in one batch of 2B, the unconditional half first; uncond None (or
        w = 1) runs the conditional branch only."""
        t_batch = np.full((z.shape[0],), t, dtype=np.int64)  # (B,)
        if uncond is None or guidance_scale == 1.0:
            return self.unet(z, t_batch, context)
        both = self.unet(
            np.concatenate([z, z]),
            np.concatenate([t_batch, t_batch]),
            np.concatenate([uncond, context]),
        )
        out_uncond, out_cond = np.split(both, 2)
        guided = out_uncond + np.float32(guidance_scale) * (out_cond - out_uncond)  # Eq. 6
        if guidance_rescale == 0.0:
            return guided
        std_cond = out_cond.std(axis=(1, 2, 3), ddof=1, keepdims=True)  # (B, 1, 1, 1)
        std_guided = guided.std(axis=(1, 2, 3), ddof=1, keepdims=True)
        ratio = np.where(std_guided > 0, std_cond / np.where(std_guided > 0, std_guided, 1), 1)
        phi = np.float32(guidance_rescale)
        return phi * (guided * ratio) + (np.float32(1.0) - phi) * guided  # Eq. 15-16

    def ddim_step(self, out: np.ndarray, t: int, t_prev: int, z: np.ndarray) -> np.ndarray:
        """z_t -> z_{t_prev} with η = 0 (Song et al. 2020, Eq. 12); t_prev < 0 is the last
        step, to ᾱ = 1 (``set_alpha_to_one``) or ᾱ_0."""
        ac = self.alphas_cumprod
        alpha_t = float(ac[t])  # ᾱ_t
        if t_prev >= 0:
            alpha_prev = float(ac[t_prev])
        else:
            alpha_prev = 1.0 if self.config["schedule"]["set_alpha_to_one"] else float(ac[0])
        # 1. x̂0 and ε̂ from the output, coefficients rounded to float32 as in torch
        sqrt_ac, sqrt_1m = np.float32(math.sqrt(alpha_t)), np.float32(math.sqrt(1 - alpha_t))
        if self.prediction_type == "epsilon":
            if alpha_t == 0.0:
                raise ValueError(f"x0 cannot be recovered from eps where alpha_bar_t = 0 (t={t})")
            c1 = np.float32(math.sqrt(1.0 / alpha_t))
            c2 = np.float32(math.sqrt(1.0 / alpha_t - 1.0))
            eps, x0 = out, c1 * z - c2 * out  # Ho et al. 2020, Eq. 15
        elif self.prediction_type == "sample":
            x0, eps = out, (z - sqrt_ac * out) / sqrt_1m
        else:  # "v_prediction", Salimans & Ho 2022, App. D
            x0, eps = sqrt_ac * z - sqrt_1m * out, sqrt_ac * out + sqrt_1m * z
        # 2. DDIM Eq. 12 with σ_t = 0: the predicted x0 plus the direction pointing to x_t
        return math.sqrt(alpha_prev) * x0 + math.sqrt(max(1.0 - alpha_prev, 0.0)) * eps

    # -- sampling --------------------------------------------------------------------------
    def sample(
        self,
        prompts: str | Sequence[str],
        *,
        negative_prompt: str | Sequence[str] | None = None,
        guidance_scale: float | None = None,
        guidance_rescale: float | None = None,
        num_inference_steps: int | None = None,
        spacing: str | None = None,
        generator: np.random.Generator | None = None,
        x_T: np.ndarray | None = None,
        height: int | None = None,
        width: int | None = None,
    ) -> np.ndarray:
        """Text -> images with DDIM (η = 0) and classifier-free guidance, the conventions of
        ``TextToImage.sample``: from the same x_T, the same images up to float32 rounding.

        Args:
            prompts: a caption or B captions in the tokenizer's vocabulary.
            negative_prompt: one prompt or B prompts replacing "" in the unconditional
                branch; only with guidance_scale != 1.
            guidance_scale: w in [0, 100]; guidance_rescale: φ in [0, 1];
                num_inference_steps: in [1, T]. None: the exported defaults (3, 0, 25 for
                the course's models).
            spacing: "leading", "trailing" or "linspace"; None: the model's.
            generator: draws x_T ~ N(0, I) when x_T is not given (numpy's random numbers,
                not torch's: pass x_T to reproduce a PyTorch run).
            x_T: (B, c, h, w) float32 starting latents.
            height, width: image size, multiples of ``config["size_divisor"]`` (default
                the training size).
        Returns:
            images (B, 3, H, W) float32 in [-1, 1].
        Raises:
            ValueError: on an unknown word, a bad number or size, a negative prompt with
                w = 1, or x_T of the wrong shape. RuntimeError: if the latents diverge.
        """
        d = self.config["sampling_defaults"]
        w = check_real(
            d["guidance_scale"] if guidance_scale is None else guidance_scale,
            "guidance_scale",
            0.0,
            MAX_GUIDANCE_SCALE,
        )
        phi = check_real(
            d["guidance_rescale"] if guidance_rescale is None else guidance_rescale,
            "guidance_rescale",
            0.0,
            1.0,
        )
        steps = d["num_inference_steps"] if num_inference_steps is None else num_inference_steps
        timesteps = self.timesteps(steps, spacing)
        prompts = _as_prompts(prompts, "prompts")
        context = self.encode_text(self.tokenize(prompts))
        uncond = self._uncond_context(negative_prompt, len(prompts), w)
        z = self._start_latents(len(prompts), x_T, generator, height, width)
        for i, t in enumerate(timesteps):
            t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
            out = self.guided_output(z, t, context, uncond, w, phi)
            z = self.ddim_step(out, t, t_prev, z)
        if not np.isfinite(z).all():
            raise RuntimeError(
                f"sampling diverged: the latents are not finite ({len(timesteps)} steps, "
                f"guidance_scale={w}); lower guidance_scale"
            )
        return self.decode(z)

    def _uncond_context(self, negative_prompt, batch: int, w: float) -> np.ndarray | None:
        if w == 1.0:
            if negative_prompt is not None:
                raise ValueError(
                    "negative_prompt replaces the unconditional branch of guidance, which "
                    "guidance_scale=1 does not use: give a guidance_scale != 1"
                )
            return None
        negative = _as_prompts(
            "" if negative_prompt is None else negative_prompt, "negative_prompt"
        )
        if len(negative) == 1:
            negative = negative * batch
        if len(negative) != batch:
            raise ValueError(
                f"negative_prompt must be one prompt or one per prompt ({batch}), "
                f"got {len(negative)}"
            )
        return self.encode_text(self.tokenize(negative))

    def _start_latents(self, batch, x_T, generator, height, width) -> np.ndarray:
        c = self.config
        sizes = []
        for name, v in (("height", height), ("width", width)):
            v = c["image_size"] if v is None else check_int(v, name, lo=1)
            if v % c["size_divisor"]:
                raise ValueError(f"{name} must be a multiple of {c['size_divisor']}, got {v}")
            sizes.append(v // c["downsample_factor"])
        shape = (batch, c["latent_shape"][0], *sizes)
        if x_T is None:
            rng = np.random.default_rng() if generator is None else generator
            return rng.standard_normal(shape, dtype=np.float32)
        if not isinstance(x_T, np.ndarray) or x_T.shape != shape:
            raise ValueError(f"x_T must be a numpy array of shape {shape}, got {x_T!r:.80}")
        return x_T.astype(np.float32, copy=False)


def _as_prompts(prompts, name: str) -> list[str]:
    """A str or a non-empty sequence of str as a list (ValueError naming ``name``)."""
    if isinstance(prompts, str):
        return [prompts]
    if isinstance(prompts, Sequence) and prompts and all(isinstance(p, str) for p in prompts):
        return list(prompts)
    raise ValueError(f"{name} must be a str or a non-empty list of str, got {prompts!r:.100}")


__all__ = [
    "CONFIG_FILE",
    "FILES",
    "FORMAT",
    "NumpyWordTokenizer",
    "OnnxTextToImage",
    "ddim_timesteps",
    "load_session",
    "read_config",
]
