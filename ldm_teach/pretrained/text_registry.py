"""Loaders of the 10.4 checkpoints: the caption judge, the mini-CLIP and the text-to-image
models. Each reads its card and verified weights (:mod:`ldm_teach.pretrained.cards`) and
refuses a card whose config does not fit the weights, or a text-to-image model whose
autoencoder is not the one it was trained on.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from ldm_teach.device import check_device
from ldm_teach.diffusion import ScheduleConfig
from ldm_teach.metrics.caption_judge import CaptionJudge
from ldm_teach.models import UNet, UNetConfig
from ldm_teach.pipelines import TextToImage
from ldm_teach.pretrained.cards import load_state_dict
from ldm_teach.pretrained.registry import (
    card_config,
    check_autoencoder_pin,
    config_fits_weights,
    load_autoencoder,
)
from ldm_teach.text import TextEncoder, TextEncoderConfig, WordTokenizer
from ldm_teach.text.mini_clip import MiniCLIP, MiniCLIPConfig


def _load(name: str, weights_dir, kind: str):
    tensors, card = load_state_dict(name, weights_dir)
    if card.get("kind") != kind:
        raise ValueError(f"{name!r} is a {card.get('kind')!r}, not a {kind}")
    return tensors, card


def load_caption_judge(
    name: str = "shapes-judge",
    weights_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> CaptionJudge:
    """The shipped :class:`~ldm_teach.metrics.caption_judge.CaptionJudge` (eval mode).

    Raises as :func:`~ldm_teach.pretrained.load_autoencoder`; ValueError if the checkpoint
    is not a caption_judge.
    """
    device = check_device(device)
    tensors, card = _load(name, weights_dir, "caption_judge")
    config = card_config(card, name, weights_dir, "widths")
    with config_fits_weights(name, weights_dir):
        judge = CaptionJudge(tuple(config["widths"]))
        judge.load_state_dict(tensors)
    return judge.eval().to(device)


def load_mini_clip(
    name: str = "shapes-clip",
    weights_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> MiniCLIP:
    """The shipped :class:`~ldm_teach.text.mini_clip.MiniCLIP` (eval mode); its tokenizer
    is ``WordTokenizer.from_dict(load_card(name)["tokenizer"])``.

    Raises as :func:`load_caption_judge`.
    """
    device = check_device(device)
    tensors, card = _load(name, weights_dir, "mini_clip")
    config = card_config(card, name, weights_dir, "text", "image_widths", "embed_dim")
    with config_fits_weights(name, weights_dir):
        clip = MiniCLIP(MiniCLIPConfig.from_dict(config))
        clip.load_state_dict(tensors)
    return clip.eval().to(device)


def load_text_to_image(
    name: str = "shapes-t2i",
    weights_dir: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> TextToImage:
    """A shipped :class:`~ldm_teach.pipelines.TextToImage` with its autoencoder, text
    encoder and tokenizer, in eval mode. The card's ``prediction_type`` and schedule are
    the model's, so sampling reads the UNet as it was trained.

    Raises:
        ValueError: if the card is not a text_to_image, is damaged or does not fit its
            weights. ParentMismatchError: if its autoencoder was retrained since.
        FileNotFoundError, ChecksumError: as :func:`~ldm_teach.pretrained.load_autoencoder`.
    """
    device = check_device(device)
    tensors, card = _load(name, weights_dir, "text_to_image")
    keys = ("unet", "text", "tokenizer", "schedule", "scale_factor", "image_size")
    config = card_config(card, name, weights_dir, *keys)
    check_autoencoder_pin(card, weights_dir)
    autoencoder = load_autoencoder(card["autoencoder"], weights_dir)
    with config_fits_weights(name, weights_dir):
        unet = UNet(UNetConfig.from_dict(config["unet"]))
        text_encoder = TextEncoder(TextEncoderConfig.from_dict(config["text"]))
        nn.ModuleDict({"unet": unet, "text_encoder": text_encoder}).load_state_dict(tensors)
        model = TextToImage(
            autoencoder,
            unet,
            text_encoder,
            WordTokenizer.from_dict(config["tokenizer"]),
            ScheduleConfig(**config["schedule"]),
            config["scale_factor"],
            image_size=config["image_size"],
            cond_drop_prob=config.get("cond_drop_prob", 0.0),
            prediction_type=config.get("prediction_type", "epsilon"),
        )
    return model.eval().to(device)
