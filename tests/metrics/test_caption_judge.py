"""The caption judge's bookkeeping and the attention-map scores, on known answers."""

import pytest
import torch

from ldm_teach.data.shapes import ShapesDataset, all_attributes
from ldm_teach.metrics.attention import (
    foreground_masks,
    map_iou,
    mask_positions,
    pointing_hits,
    position_cell,
)
from ldm_teach.metrics.caption_judge import CaptionJudge, attribute_targets, judge_captions


class Oracle(CaptionJudge):
    """A judge that answers from known attributes (to test the scoring, not the CNN)."""

    def __init__(self, answers):
        super().__init__((8, 8, 8))
        self.answers = attribute_targets(answers)
        self.calls = 0

    def forward(self, images):
        n = images.shape[0]
        sl = slice(self.calls, self.calls + n)
        self.calls += n
        return {a: torch.nn.functional.one_hot(t[sl], 9).float() for a, t in self.answers.items()}


def test_caption_accuracy_needs_all_four_attributes():
    asked = all_attributes()[:4]
    read = [dict(a) for a in asked]
    read[1]["colour"] = "green" if asked[1]["colour"] != "green" else "red"
    read[2]["position"] = "top" if asked[2]["position"] != "top" else "left"
    scores = judge_captions(Oracle(read), torch.zeros(4, 3, 32, 32), asked, batch_size=3)
    assert scores["caption"] == 0.5 and scores["colour"] == 0.75 and scores["shape"] == 1.0
    assert scores["num_images"] == 4


def test_judge_refuses_bad_inputs():
    judge = CaptionJudge((8, 8, 8))
    with pytest.raises(ValueError, match="one attribute dict per image"):
        judge_captions(judge, torch.zeros(2, 3, 32, 32), all_attributes()[:1])
    with pytest.raises(ValueError, match="NaN"):
        judge_captions(judge, torch.full((1, 3, 32, 32), float("nan")), all_attributes()[:1])
    with pytest.raises(ValueError, match="'colour'"):
        attribute_targets(
            [{"shape": "circle", "colour": "purple", "size": "small", "position": "top"}]
        )


def test_position_cells_tile_the_image():
    covered = torch.zeros(32, 32, dtype=torch.int64)
    for p in (
        "top left",
        "top",
        "top right",
        "left",
        "centre",
        "right",
        "bottom left",
        "bottom",
        "bottom right",
    ):
        rows, cols = position_cell(p, 32, 32)
        covered[rows, cols] += 1
    assert (covered[:30, :30] == 1).all()
    assert position_cell("top right", 30, 30) == (slice(0, 10), slice(20, 30))


def test_pointing_and_iou_on_the_true_masks():
    data = ShapesDataset(20, seed=4)
    maps = data.masks.float()  # a perfect map is the mask itself
    positions = [a["position"] for a in data.attributes]
    assert mask_positions(data.masks) == positions
    assert pointing_hits(maps, positions).all()
    assert torch.allclose(map_iou(maps, data.masks), torch.ones(20))
    assert (foreground_masks(data.images) == data.masks).float().mean() > 0.97
    flipped = maps.flip(-1).flip(-2)  # the opposite corner: misses unless centred
    hits = pointing_hits(flipped, positions)
    assert hits.tolist() == [p == "centre" for p in positions]
    with pytest.raises(ValueError, match="threshold"):
        map_iou(maps, data.masks, threshold=0.0)
