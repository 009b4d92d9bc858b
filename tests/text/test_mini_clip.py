"""mini-CLIP: the symmetric InfoNCE loss, duplicates, and learning on shapes."""

import pytest
import torch
import torch.nn.functional as F

from ldm_teach.data.shapes import ShapesDataset
from ldm_teach.metrics.clip_scores import clip_retrieval, clip_zero_shot
from ldm_teach.text import TextEncoderConfig, shapes_tokenizer
from ldm_teach.text.mini_clip import MAX_LOGIT_SCALE, MiniCLIP, MiniCLIPConfig, clip_loss


def test_clip_loss_is_the_mean_of_both_cross_entropies():
    logits = torch.randn(5, 5, generator=torch.Generator().manual_seed(0))
    target = torch.arange(5)
    want = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
    assert torch.allclose(clip_loss(logits), want)
    assert torch.allclose(clip_loss(logits, torch.eye(5, dtype=torch.bool)), want)


def test_duplicate_captions_are_not_pushed_apart():
    # images 0 and 1 share a caption: CLIP's one-hot target would push logit (0, 1) down
    logits = torch.tensor([[9.0, 9.0, 0.0], [9.0, 9.0, 0.0], [0.0, 0.0, 9.0]], requires_grad=True)
    same = torch.tensor([[1, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=torch.bool)
    (grad_soft,) = torch.autograd.grad(clip_loss(logits, same), logits)
    (grad_hard,) = torch.autograd.grad(clip_loss(logits), logits)
    assert abs(grad_soft[0, 1]) < 1e-3 < grad_hard[0, 1]
    with pytest.raises(ValueError, match="true diagonal"):
        clip_loss(logits, torch.zeros(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"\(B, B\) with B >= 2"):
        clip_loss(torch.zeros(1, 1))


def _clip():
    tok = shapes_tokenizer()
    text = TextEncoderConfig(vocab_size=tok.vocab_size, eos_token_id=tok.end_token_id, width=32)
    return tok, MiniCLIP(MiniCLIPConfig(text=text, image_widths=(16, 32), embed_dim=16))


def test_embeddings_are_unit_vectors_and_temperature_starts_at_clip_value():
    tok, clip = _clip()
    data = ShapesDataset(4, seed=0)
    u = clip.encode_image(data.images)
    w = clip.encode_text(tok(data.captions).input_ids)
    assert torch.allclose(u.norm(dim=-1), torch.ones(4)) and torch.allclose(
        w.norm(dim=-1), torch.ones(4)
    )
    assert torch.isclose(1 / clip.logit_scale.exp(), torch.tensor(0.07))
    assert MAX_LOGIT_SCALE == 100.0


def test_a_few_steps_of_contrastive_training_beat_chance():
    torch.manual_seed(0)
    tok, clip = _clip()
    combos = [
        {"shape": s, "colour": c, "size": "large", "position": "centre"}
        for s in ("circle", "square")
        for c in ("red", "blue")
    ]
    data = ShapesDataset(64, seed=0, combinations=combos)
    ids = tok(data.captions).input_ids
    same = (ids[:, None] == ids[None]).all(-1)
    opt = torch.optim.AdamW(clip.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = clip_loss(clip(data.images, ids), same)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # the floor is log(16) = 2.77 (16 images per caption share the target), the start log(64)
    assert losses[-1] < losses[0] - 0.4
    scores = clip_zero_shot(clip, tok, data.images, data.attributes, candidates=combos)
    assert scores["num_images"] == 64 and scores["caption"] > 0.5  # chance: 0.25
    gallery = ShapesDataset(4, seed=1, combinations=combos, cycle=True)
    assert clip_retrieval(clip, tok, gallery.images, gallery.attributes) >= 0.5


def test_retrieval_refuses_a_gallery_with_a_caption_twice():
    tok, clip = _clip()
    data = ShapesDataset(2, seed=0, combinations=[ShapesDataset(1, seed=0).attributes[0]])
    with pytest.raises(ValueError, match="one image per caption"):
        clip_retrieval(clip, tok, data.images, data.attributes)
