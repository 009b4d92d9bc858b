"""Procedural coloured shapes with captions, for text-conditioned latent diffusion.

Stable Diffusion conditions its UNet on a caption through cross-attention (Rombach et al.
2022, arXiv:2112.10752, Sec. 3.3). To show that on a laptop the course needs images
whose captions are exactly true and that a small model can learn in minutes: one shape on a
black background, described by four attributes,

    shape x colour x size x position = 3 x 4 x 2 x 9 = 216 captions,

e.g. "a small red circle at the top left" or "a large blue square in the centre". Images are
drawn with Pillow at 4x the target size and box-filtered down, which antialiases the edges.
The same seed always gives the same images and captions.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor
from torch.utils.data import Dataset

from ldm_teach.argcheck import check_bool, check_int, is_real

SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
#: Shapes no shipped model saw (Sec. 10.5's new concept for fine-tuning). They are drawn by
#: :func:`render_shape` like the others but belong to no caption of ``all_attributes``, so
#: the 216 captions, the vocabulary and every existing render stay as they were.
NOVEL_SHAPES: tuple[str, ...] = ("star",)
STAR_INNER_RATIO = 0.45  # inner / outer radius of the five-pointed star
COLOURS: dict[str, tuple[int, int, int]] = {  # RGB in [0, 255], distinct on black
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 90, 240),
    "yellow": (240, 220, 30),
}
SIZES: tuple[str, ...] = ("small", "large")
SIZE_RADIUS: dict[str, float] = {"small": 0.08, "large": 0.14}  # half-width, fraction of side

# A 3x3 grid of positions: name -> (centre x, centre y) as fractions of the image side.
POSITIONS: dict[str, tuple[float, float]] = {
    "top left": (1 / 6, 1 / 6),
    "top": (1 / 2, 1 / 6),
    "top right": (5 / 6, 1 / 6),
    "left": (1 / 6, 1 / 2),
    "centre": (1 / 2, 1 / 2),
    "right": (5 / 6, 1 / 2),
    "bottom left": (1 / 6, 5 / 6),
    "bottom": (1 / 2, 5 / 6),
    "bottom right": (5 / 6, 5 / 6),
}
# How each position reads in a caption.
_POSITION_PHRASES: dict[str, str] = {
    "top left": "at the top left",
    "top": "at the top",
    "top right": "at the top right",
    "left": "on the left",
    "centre": "in the centre",
    "right": "on the right",
    "bottom left": "at the bottom left",
    "bottom": "at the bottom",
    "bottom right": "at the bottom right",
}
# Largest random shift of a shape's centre, fraction of the side. With the large radius it
# keeps every shape inside the image: 1/6 - 0.14 - 0.025 > 0.
JITTER = 0.025
SUPERSAMPLE = 4  # draw at this multiple of the size, then box-filter down


def caption_for(attributes: dict[str, str]) -> str:
    """The caption of one image, e.g. "a small red circle at the top left".

    Args:
        attributes: dict with keys "shape", "colour", "size", "position", values taken
            from SHAPES, COLOURS, SIZES and POSITIONS.
    Returns:
        The caption, lower case, no trailing full stop.
    """
    a = attributes
    return f"a {a['size']} {a['colour']} {a['shape']} {_POSITION_PHRASES[a['position']]}"


ATTRIBUTES: tuple[str, ...] = ("shape", "colour", "size", "position")


def attribute_values() -> dict[str, tuple[str, ...]]:
    """The allowed values of each attribute, in a fixed order (the judge's class order)."""
    return {
        "shape": SHAPES,
        "colour": tuple(COLOURS),
        "size": SIZES,
        "position": tuple(POSITIONS),
    }


def all_attributes() -> list[dict[str, str]]:
    """All 3 x 4 x 2 x 9 = 216 attribute combinations, shape slowest, position fastest."""
    values = attribute_values()
    return [
        {"shape": s, "colour": c, "size": z, "position": p}
        for s in values["shape"]
        for c in values["colour"]
        for z in values["size"]
        for p in values["position"]
    ]


def caption_vocabulary() -> list[str]:
    """Every word of every caption, in first-use order (19 words)."""
    words: list[str] = []
    for a in all_attributes():
        for w in caption_for(a).split():
            if w not in words:
                words.append(w)
    return words


#: Seed of the held-out combinations; fixed, so that training and evaluation agree.
HELD_OUT_SEED = 10_4
#: How many of the 216 combinations no text-to-image model sees in training.
NUM_HELD_OUT = 24


def held_out_attributes() -> list[dict[str, str]]:
    """The 24 combinations held out of training, to measure compositional generalisation.

    Drawn once with ``numpy.random.default_rng(HELD_OUT_SEED)`` under one rule: every pair
    of attribute values (e.g. "red" with "triangle", "small" with "top left") still occurs
    in some training combination, so a held-out caption is new only as a whole (each of
    its words and each pair of its words was seen, never the four together).
    """
    combos = all_attributes()
    rng = np.random.default_rng(HELD_OUT_SEED)
    held: list[dict[str, str]] = []
    for i in rng.permutation(len(combos)).tolist():
        candidate = held + [combos[i]]
        if _pairs_covered(candidate, combos):
            held = candidate
        if len(held) == NUM_HELD_OUT:
            break
    return sorted(held, key=combos.index)


def _pairs_covered(held: list[dict[str, str]], combos: list[dict[str, str]]) -> bool:
    """True if every pair of attribute values of ``held`` occurs in a combination that is
    not held out."""
    kept = [c for c in combos if c not in held]
    for h in held:
        for i, a in enumerate(ATTRIBUTES):
            for b in ATTRIBUTES[i + 1 :]:
                if not any(c[a] == h[a] and c[b] == h[b] for c in kept):
                    return False
    return True


#: Largest |offset| of render_shape: four times the dataset's jitter, so the shape stays where
#: its caption says.
MAX_OFFSET = 0.1


def render_shape(
    attributes: dict[str, str], size: int = 32, offset: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """Draw one shape on a black square.

    Args:
        attributes: dict with keys "shape", "colour", "size", "position"; the shape from
            SHAPES or NOVEL_SHAPES.
        size: side of the output image in pixels.
        offset: (dx, dy) shift of the centre, as fractions of the side.
    Returns:
        (size, size, 3) uint8 RGB array.
    Raises:
        ValueError: if an attribute value is unknown, ``size`` is not an int in [4, 1024], or
            ``offset`` is not two finite numbers in [-MAX_OFFSET, MAX_OFFSET] (a larger
            shift moves the shape off its quadrant, or off the canvas, under the caption of
            its position).
    """
    for key, allowed in (
        ("shape", SHAPES + NOVEL_SHAPES),
        ("colour", COLOURS),
        ("size", SIZES),
        ("position", POSITIONS),
    ):
        if attributes.get(key) not in allowed:
            raise ValueError(
                f"attributes[{key!r}] must be one of {list(allowed)}, got {attributes.get(key)!r}"
            )
    check_int(size, "size", lo=4, hi=1024)
    if (
        not isinstance(offset, (tuple, list))
        or len(offset) != 2
        or not all(is_real(o) and math.isfinite(o) and abs(o) <= MAX_OFFSET for o in offset)
    ):
        raise ValueError(
            f"offset must be two finite fractions of the side in [-{MAX_OFFSET:g}, "
            f"{MAX_OFFSET:g}], got {offset!r}"
        )
    side = size * SUPERSAMPLE
    cx, cy = POSITIONS[attributes["position"]]
    cx, cy = (cx + offset[0]) * side, (cy + offset[1]) * side  # centre in canvas pixels
    r = SIZE_RADIUS[attributes["size"]] * side  # half-width in canvas pixels
    colour = COLOURS[attributes["colour"]]

    canvas = Image.new("RGB", (side, side), (0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    shape = attributes["shape"]
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif shape == "square":
        s = r * 0.886  # half-side r*sqrt(pi)/2: the square has the circle's area
        draw.rectangle((cx - s, cy - s, cx + s, cy + s), fill=colour)
    elif shape == "triangle":  # pointing up, inscribed in the circle of radius r
        draw.polygon(
            [(cx, cy - r), (cx - 0.866 * r, cy + 0.5 * r), (cx + 0.866 * r, cy + 0.5 * r)],
            fill=colour,
        )
    else:  # star: five points on the circle of radius r, one pointing up
        draw.polygon(_star_vertices(cx, cy, r), fill=colour)
    small = canvas.resize((size, size), Image.Resampling.BOX)  # mean of each 4x4 block
    return np.asarray(small, dtype=np.uint8)


def _star_vertices(cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    """The 10 vertices of a five-pointed star: outer radius r, inner STAR_INNER_RATIO r."""
    vertices = []
    for k in range(10):
        radius = r if k % 2 == 0 else STAR_INNER_RATIO * r
        angle = -math.pi / 2 + k * math.pi / 5  # from straight up, clockwise on screen
        vertices.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return vertices


def concept_attributes(shape: str = "star") -> list[dict[str, str]]:
    """The 4 x 2 x 9 = 72 combinations of a new shape of ``NOVEL_SHAPES`` (colour slowest,
    position fastest), for ``ShapesDataset(combinations=...)``: the fine-tuning set of a
    concept the base model never saw. Their captions ("a small red star at the top left")
    use a word the shipped tokenizer does not know.

    Raises:
        ValueError: if shape is not in NOVEL_SHAPES.
    """
    if shape not in NOVEL_SHAPES:
        raise ValueError(f"shape must be one of {list(NOVEL_SHAPES)}, got {shape!r}")
    values = attribute_values()
    return [
        {"shape": shape, "colour": c, "size": z, "position": p}
        for c in values["colour"]
        for z in values["size"]
        for p in values["position"]
    ]


def shape_mask(
    attributes: dict[str, str], size: int = 32, offset: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """Where the shape of :func:`render_shape` lies: the pixels it covers by half or more.

    Args, Raises: as :func:`render_shape`.
    Returns:
        (size, size) bool array, True inside the shape (ground truth for attention maps).
    """
    white = {**attributes, "colour": "red"}
    coverage = render_shape(white, size, offset)[..., 0].astype(np.float64) / COLOURS["red"][0]
    return coverage >= 0.5


class ShapesDataset(Dataset):
    """Random single shapes with true captions.

    Each sample draws one attribute combination uniformly from ``combinations`` (by
    default all 216) with a ``numpy.random.default_rng(seed)`` generator, then shifts the
    centre by a uniform offset of at most JITTER of the side in x and in y, so that two
    images with one caption differ.

    Attributes:
        images: (N, 3, size, size) float32 RGB in [-1, 1]; the background is black (-1).
        captions: N strings, e.g. "a large green triangle on the right".
        attributes: N dicts with keys "shape", "colour", "size", "position".
        masks: (N, size, size) bool, True on the pixels the shape covers (see shape_mask).
    """

    def __init__(
        self,
        num_samples: int = 1000,
        size: int = 32,
        seed: int = 0,
        combinations: list[dict[str, str]] | None = None,
        cycle: bool = False,
    ) -> None:
        """Args:
            num_samples: number of images N, at least 1.
            size: image side in pixels, in [16, 256].
            seed: seed of the generator; the same seed gives identical images and captions.
            combinations: the attribute dicts to draw from (e.g. the training combinations
                without :func:`held_out_attributes`, or :func:`concept_attributes` of a
                new shape); None means all 216.
            cycle: take the combinations in order, sample i showing combination
                i mod len(combinations), instead of drawing them (a gallery with one
                image per caption: ``ShapesDataset(216, cycle=True)``).
        Raises:
            ValueError: if num_samples or size is out of range, or combinations is empty or
                holds an unknown attribute value.
        """
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive int, got {num_samples!r}")
        if not isinstance(size, int) or not 16 <= size <= 256:
            raise ValueError(f"size must be an int in [16, 256], got {size!r}")
        combos = all_attributes() if combinations is None else list(combinations)
        values = {**attribute_values(), "shape": SHAPES + NOVEL_SHAPES}
        if not combos or not all(
            isinstance(c, dict) and set(c) == set(ATTRIBUTES) and all(c[k] in values[k] for k in c)
            for c in combos
        ):
            raise ValueError(
                "combinations must be a non-empty list of attribute dicts with keys "
                f"{list(ATTRIBUTES)} and known values, got {combinations!r:.200}"
            )
        rng = np.random.default_rng(seed)
        if check_bool(cycle, "cycle"):
            picks = np.arange(num_samples) % len(combos)
        else:
            picks = rng.integers(len(combos), size=num_samples)
        offsets = rng.uniform(-JITTER, JITTER, size=(num_samples, 2))

        self.size = size
        self.attributes: list[dict[str, str]] = [dict(combos[i]) for i in picks.tolist()]
        self.captions: list[str] = [caption_for(a) for a in self.attributes]
        pairs = list(zip(self.attributes, offsets.tolist(), strict=True))
        pixels = np.stack([render_shape(a, size, (dx, dy)) for a, (dx, dy) in pairs])
        self.masks = torch.from_numpy(
            np.stack([shape_mask(a, size, (dx, dy)) for a, (dx, dy) in pairs])
        )  # (N, size, size) bool
        x = torch.from_numpy(pixels).float()  # (N, size, size, 3) in [0, 255]
        self.images = (x / 127.5 - 1.0).permute(0, 3, 1, 2).contiguous()  # (N, 3, size, size)

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, index: int) -> tuple[Tensor, str]:
        """Returns (image (3, size, size) float32 in [-1, 1], caption str)."""
        return self.images[index], self.captions[index]


def training_attributes() -> list[dict[str, str]]:
    """The 192 combinations that text-to-image models (and their text encoders) train on:
    all 216 but :func:`held_out_attributes`."""
    held = held_out_attributes()
    return [a for a in all_attributes() if a not in held]


#: Images in the course's shapes splits (see :func:`shapes_split`).
SPLIT_SIZES: dict[str, int] = {"train": 8000, "test": 1000, "gallery": 216}


def shapes_split(split: str, size: int = 32) -> ShapesDataset:
    """The course's fixed shapes splits, 32 x 32 by default.

    - "train": 8000 images of the training combinations (seed 0);
    - "test": 1000 images of all 216 combinations (seed 1);
    - "gallery": one image of each of the 216 captions, in :func:`all_attributes` order
      (seed 2), for retrieval and per-caption tables.

    Raises:
        ValueError: for another split name or a bad size.
    """
    if split == "train":
        return ShapesDataset(SPLIT_SIZES["train"], size, seed=0, combinations=training_attributes())
    if split == "test":
        return ShapesDataset(SPLIT_SIZES["test"], size, seed=1)
    if split == "gallery":
        return ShapesDataset(SPLIT_SIZES["gallery"], size, seed=2, cycle=True)
    raise ValueError(f"split must be 'train', 'test' or 'gallery', got {split!r}")
