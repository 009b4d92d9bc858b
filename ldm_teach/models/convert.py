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

from ldm_teach.diffusion.forward import (
    PREDICTION_TYPES,
    check_same_shape,
    check_timesteps,
    get_v,
    predict_x0_and_eps,
)
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
        TypeError: if network is not callable or schedule is not a NoiseSchedule.
        ValueError: if source or target is not one of the three names.

    Where ᾱ_t = 0 (a zero-terminal-SNR schedule at t = T-1), eps says nothing about x0, so
    converting *from* eps is undefined there and ``forward`` raises ValueError; from x0 or
    v every conversion is defined. The wrapper's state dict carries a ``network.`` prefix:
    save the wrapped network, not the wrapper.
    """

    def __init__(
        self,
        network: nn.Module,
        schedule: NoiseSchedule,
        source: str = "epsilon",
        target: str = "v_prediction",
    ) -> None:
        super().__init__()
        if not callable(network):
            raise TypeError(f"network must be a callable module, got {type(network).__name__}")
        if not isinstance(schedule, NoiseSchedule):
            raise TypeError(f"schedule must be a NoiseSchedule, got {type(schedule).__name__}")
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
        """x_t (B, C, H, W), t (B,) int64 -> the ``target`` prediction, x_t's shape/dtype.

        Raises:
            ValueError: on out-of-range t, an output of another shape than x_t, or an eps
                source at a t where ᾱ_t = 0.
        """
        check_timesteps(t, self.schedule.num_train_timesteps, x_t.shape[0])
        out = self.network(x_t, t, *args, **kwargs)
        check_same_shape("x_t", x_t, "network output", out)
        if self.source == self.target:
            return out.to(x_t.dtype)
        if self.source == "epsilon":
            zero = self.schedule.alphas_cumprod[t.cpu().long()] == 0
            if bool(zero.any()):
                raise ValueError(
                    f"cannot convert eps to {self.target} at t={int(t.cpu()[zero][0])}, where "
                    "alpha_bar = 0 (zero terminal SNR): eps carries no information on x0 there"
                )
        x0, eps = predict_x0_and_eps(out, x_t, t, self.schedule, self.source)
        if self.target == "epsilon":
            return eps
        if self.target == "sample":
            return x0
        return get_v(x0, eps, t, self.schedule).to(x_t.dtype)  # "v_prediction"


__all__ = ["PredictionConverter"]
