"""An independent judge of text-to-image samples on the course's captioned shapes.

A text-to-image model is right when its image shows what the caption says. On the shapes
data the caption is four attributes (shape, colour, size, position), so a classifier
trained on *real renders* can read them back from a generated image. The course's
text-to-image metric is

    caption accuracy = fraction of images whose four attributes are all read as captioned

(the spirit of object-detector scores such as GenEval, Ghosh et al. 2023, arXiv:2310.11513,
on data where the judge is near perfect: it scores ≥ 99% on each attribute of held-out
real renders, so its errors on samples are the model's errors). The judge never sees a
generated image in training.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ldm_teach.data.shapes import ATTRIBUTES, attribute_values

__all__ = ["CaptionJudge", "attribute_targets", "judge_captions"]


class CaptionJudge(nn.Module):
    """A CNN with one classification head per attribute.

    Args:
        widths: channels of the three conv levels (each halves H and W).
    Shapes:
        (B, 3, H, W) RGB in [-1, 1] -> dict attribute -> (B, num_values) logits, for the
        attributes "shape" (3), "colour" (4), "size" (2) and "position" (9).
    """

    def __init__(self, widths: tuple[int, int, int] = (32, 64, 128)) -> None:
        super().__init__()
        self.widths = tuple(widths)
        layers: list[nn.Module] = []
        c = 3
        for w in widths:
            # GroupNorm, not BatchNorm: no running statistics that an EMA of the weights
            # (or a batch of generated images) could put out of step with the weights
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.GroupNorm(8, w), nn.ReLU()]
            layers += [nn.Conv2d(w, w, 3, padding=1), nn.GroupNorm(8, w), nn.ReLU()]
            layers += [nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        # position needs where, not only what: the heads read the 4x4 map flattened
        self.pool = nn.AdaptiveAvgPool2d(4)
        values = attribute_values()
        self.heads = nn.ModuleDict({a: nn.Linear(c * 16, len(values[a])) for a in ATTRIBUTES})

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        h = self.pool(self.features(images)).flatten(1)  # (B, 16 c)
        return {a: head(h) for a, head in self.heads.items()}

    def loss(self, images: Tensor, targets: dict[str, Tensor]) -> Tensor:
        """Sum over the four attributes of the cross-entropy."""
        logits = self(images)
        return sum(F.cross_entropy(logits[a], targets[a]) for a in ATTRIBUTES)


def attribute_targets(attributes: Sequence[dict[str, str]]) -> dict[str, Tensor]:
    """Attribute dicts -> dict attribute -> (B,) int64 class indices (the judge's order).

    Raises:
        ValueError: naming the attribute and value that is not known.
    """
    values = attribute_values()
    out: dict[str, Tensor] = {}
    for a in ATTRIBUTES:
        index = {v: i for i, v in enumerate(values[a])}
        try:
            out[a] = torch.tensor([index[d[a]] for d in attributes], dtype=torch.long)
        except (KeyError, TypeError) as err:
            raise ValueError(
                f"each attribute dict needs {a!r} with a value in {list(values[a])}"
            ) from err
    return out


@torch.no_grad()
def judge_captions(
    judge: CaptionJudge,
    images: Tensor,
    attributes: Sequence[dict[str, str]],
    batch_size: int = 256,
) -> dict[str, float]:
    """How often the judge reads each captioned attribute from ``images``.

    Args:
        judge: a trained :class:`CaptionJudge` (put in eval mode here).
        images: (N, 3, H, W) RGB in [-1, 1], float; H = W = the judge's training size.
        attributes: N attribute dicts, what each image's caption asked for.
        batch_size: images per forward pass.
    Returns:
        {"shape", "colour", "size", "position": per-attribute accuracy in [0, 1],
        "caption": fraction with all four right, "num_images": N}.
    Raises:
        ValueError: if images is not (N, 3, H, W), is not finite, or N != len(attributes).
    """
    if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W), got {getattr(images, 'shape', images)!r}")
    if images.shape[0] != len(attributes) or images.shape[0] == 0:
        raise ValueError(
            f"need one attribute dict per image, got {images.shape[0]} images and "
            f"{len(attributes)} dicts"
        )
    if not bool(torch.isfinite(images).all()):
        raise ValueError("images hold NaN or inf")
    targets = attribute_targets(attributes)
    judge.eval()
    correct = {a: [] for a in ATTRIBUTES}
    for i in range(0, images.shape[0], batch_size):
        logits = judge(images[i : i + batch_size].float())
        for a in ATTRIBUTES:
            correct[a].append(logits[a].argmax(1).cpu() == targets[a][i : i + batch_size])
    right = {a: torch.cat(c) for a, c in correct.items()}
    every = torch.stack(list(right.values())).all(0)
    return {
        **{a: float(r.float().mean()) for a, r in right.items()},
        "caption": float(every.float().mean()),
        "num_images": int(images.shape[0]),
    }
