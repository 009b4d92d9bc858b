"""Adapting a trained text-to-image model to a new concept (course Sec. 10.5.2): LoRA on
the UNet through peft, textual inversion of one embedding row, and DreamBooth with prior
preservation, all trained with the model's own loss (``finetune``).
"""

from ldm_teach.adapt.dreambooth import class_prior_images, train_dreambooth
from ldm_teach.adapt.finetune import encode_examples, finetune, fixed_seed_loss
from ldm_teach.adapt.lora import (
    add_lora,
    has_lora,
    load_lora,
    lora_state_dict,
    merge_lora,
    parameter_counts,
    save_lora,
    train_lora,
    unmerge_lora,
)
from ldm_teach.adapt.textual_inversion import (
    add_placeholder_token,
    learned_embedding,
    load_learned_embedding,
    save_learned_embedding,
    train_textual_inversion,
)

__all__ = [
    "add_lora",
    "add_placeholder_token",
    "class_prior_images",
    "encode_examples",
    "finetune",
    "fixed_seed_loss",
    "has_lora",
    "learned_embedding",
    "load_learned_embedding",
    "load_lora",
    "lora_state_dict",
    "merge_lora",
    "parameter_counts",
    "save_learned_embedding",
    "save_lora",
    "train_dreambooth",
    "train_lora",
    "train_textual_inversion",
    "unmerge_lora",
]
