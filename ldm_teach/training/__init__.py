"""The course's one training loop and its checkpoints."""

from ldm_teach.training.adversarial import AdversarialResult, train_autoencoder_adversarial
from ldm_teach.training.checkpoint import (
    atomic_write_bytes,
    load_tensors,
    save_tensors_atomic,
    sha256_file,
)
from ldm_teach.training.loop import CHECKPOINT_NAME, TrainConfig, TrainResult, train

__all__ = [
    "AdversarialResult",
    "CHECKPOINT_NAME",
    "TrainConfig",
    "TrainResult",
    "atomic_write_bytes",
    "load_tensors",
    "save_tensors_atomic",
    "sha256_file",
    "train",
    "train_autoencoder_adversarial",
]
