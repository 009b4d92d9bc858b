"""Read a denoising network in another parameterisation: eps, x0 or v (course Sec. 10.3.6).

A network trained to predict one of

    eps                                   (Ho et al. 2020, Eq. 11)
    x0 = (x_t - sqrt(1 - ᾱ_t) eps) / sqrt(ᾱ_t)                       (Eq. 4 inverted)
    v  = sqrt(ᾱ_t) eps - sqrt(1 - ᾱ_t) x0   (Salimans & Ho 2022, arXiv:2202.00512, Sec. 4)

determines the other two exactly, given x_t, t and the schedule. ``PredictionConverter``
wraps a network and returns the converted prediction, so a course model can play "a model
trained with another parameterisation" (the eps/v mismatch of the debugging clinic) and the
reader can check that the conversion is exact: sampling the converted network with the
matching ``prediction_type`` gives the original samples.
"""

from __future__ import annotations

from torch import Tensor, nn

from ldm_teach.diffusion.forward import PREDICTION_TYPES, get_v, predict_x0_and_eps
from ldm_teach.diffusion.schedules import NoiseSchedule


class PredictionConverter(nn.Module):
    """``network`` predicting ``source``, seen as a network predicting ``target``.

    Args:
        network: a denoiser ``network(x_t, t, *args, **kwargs)`` of x_t's shape, e.g. a
            :class:`~ldm_teach.models.UNet`; its ``config`` (if any) is exposed unchanged so
            the wrapper can stand in for the UNet of a ``LatentDiffusion``.
        schedule: the noise schedule the network was trained with.
        source: what ``network`` predicts: "epsilon", "sample" (x0) or "v_prediction".
        target: what the wrapper returns, one of the same three.
    Raises:
        ValueError: if source or target is not one of the three names.
    """

    def __init__(self, network: nn.Module, schedule: NoiseSchedule, source: str = "epsilon",
                 target: str = "v_prediction") -> None:
        super().__init__()
        for name, value in (("source", source), ("target", target)):
            if value not in PREDICTION_TYPES:
                raise ValueError(f"{name} must be one of {PREDICTION_TYPES}, got {value!r}")
        self.network = network
        self.schedule = schedule
        self.source = source
        self.target = target
        if hasattr(network, "config"):
            self.config = network.config

    def forward(self, x_t: Tensor, t: Tensor, *args, **kwargs) -> Tensor:
        """x_t (B, C, H, W), t (B,) int64 -> the ``target`` prediction, x_t's shape/dtype."""
        out = self.network(x_t, t, *args, **kwargs)
        if self.source == self.target:
            return out
        x0, eps = predict_x0_and_eps(out, x_t, t, self.schedule, self.source)
        if self.target == "epsilon":
            return eps
        if self.target == "sample":
            return x0
        return get_v(x0, eps, t, self.schedule).to(x_t.dtype)  # "v_prediction"


__all__ = ["PredictionConverter"]
