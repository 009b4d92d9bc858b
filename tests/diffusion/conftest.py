"""Shared helpers for the diffusion tests."""

import pytest
import torch

from ldm_teach.diffusion.forward import get_v, predict_eps_from_x0
from ldm_teach.diffusion.schedules import NoiseSchedule


def _oracle(x0: torch.Tensor, schedule: NoiseSchedule, prediction_type: str = "epsilon"):
    """A model that knows the data is exactly x0: it returns the true eps / x0 / v for x_t."""

    def model_fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        eps = predict_eps_from_x0(x_t, t, x0.expand_as(x_t), schedule)
        if prediction_type == "epsilon":
            return eps
        if prediction_type == "sample":
            return x0.expand_as(x_t).clone()
        return get_v(x0.expand_as(x_t), eps, t, schedule)

    return model_fn


@pytest.fixture
def oracle():
    """``oracle(x0, schedule, prediction_type)`` -> a model_fn returning the true target."""
    return _oracle
