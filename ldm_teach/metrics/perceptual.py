"""LPIPS perceptual distance (Zhang et al. 2018, arXiv:1801.03924, Eq. 1), through the
``lpips`` package; the perceptual term of the autoencoder loss (Rombach et al. 2022,
arXiv:2112.10752, Sec. 3.1; Esser et al. 2021, arXiv:2012.09841, Sec. 3.2).

    d(x, y) = sum_l 1/(H_l W_l) sum_{h,w} || w_l ⊙ (f̂_l(x)_{hw} - f̂_l(y)_{hw}) ||_2^2

f̂_l are the unit-normalised (over channels) activations of layer l of a frozen ImageNet
backbone (AlexNet or VGG-16), and w_l are per-channel weights fitted to human judgements.
The ``lpips`` package ships the w_l inside itself; the backbone weights come from
torchvision and are downloaded on first use into ``torch.hub.get_dir()/checkpoints``.
This course runs offline, so nothing is downloaded here: :func:`lpips_available` says
whether the backbone file is already there, and :class:`LPIPSMetric` raises a
RuntimeError naming the missing file when it is not.

Inputs are images in [-1, 1] (the package's convention); ``normalize=True`` accepts [0, 1]
and maps it to 2x - 1 first. Grayscale images (C = 1) are repeated to 3 channels.

Input ranges. [0, 1] images passed without ``normalize=True`` give plausible but wrong
distances (the backbone sees them as half-contrast grey images), and so do 0-255 images.
:meth:`LPIPSMetric.forward` therefore checks its inputs before the network runs:

* values (after the ``normalize`` mapping) beyond [-1, 1] by more than ``RANGE_SLACK`` =
  0.5 are refused with a ValueError. The slack lets the metric serve as a training loss on
  unclamped decoder outputs, which overshoot [-1, 1] a little; a 0-255 image, or a [-1, 1]
  image passed with ``normalize=True`` (which maps -1 to -3), is far outside it.
* with ``normalize=False``, if every value of x and y lies in [0, 1], a UserWarning names
  ``normalize=True``. It is a warning, not an error, because such inputs are also legal
  [-1, 1] images (all pixels at or above mid-grey, rare for a whole batch but possible).

:func:`lpips_distance`, the metric for evaluation, is strict: values must lie in the input
range to within 1e-3.
"""

from __future__ import annotations

import os
import warnings

import torch
from torch import Tensor, nn

from ldm_teach.argcheck import check_bool

# torchvision's ImageNet weights for each LPIPS backbone (the IMAGENET1K_V1 weights that
# ``pretrained=True`` selects). torch.hub stores a download under its URL's file name.
BACKBONE_URLS = {
    "alex": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    "vgg": "https://download.pytorch.org/models/vgg16-397923af.pth",
}
# Smallest H, W for which every backbone layer has a non-empty output
# (AlexNet: 11x11/4 conv and two 3x3/2 pools; VGG-16: four 2x2/2 pools before its 5th layer).
MIN_SIDE = {"alex": 31, "vgg": 16}
# How far LPIPSMetric.forward lets inputs (mapped to the [-1, 1] convention) overshoot
# [-1, 1]: room for unclamped reconstructions in a perceptual loss, none for another scale.
RANGE_SLACK = 0.5
_TORCHVISION_BUILDERS = {"alex": "alexnet", "vgg": "vgg16"}


def _check_net(net: str) -> None:
    if net not in BACKBONE_URLS:
        raise ValueError(f"net must be one of {tuple(BACKBONE_URLS)}, got {net!r}")


def lpips_weights_path(net: str = "alex") -> str:
    """Where torchvision keeps (or would download) the backbone weights of ``net``:
    ``torch.hub.get_dir()/checkpoints/<file name of the URL>``, e.g.
    ``~/.cache/torch/hub/checkpoints/alexnet-owt-7be5be79.pth``.

    Raises:
        ValueError: if ``net`` is not ``"alex"`` or ``"vgg"``.
    """
    _check_net(net)
    filename = os.path.basename(BACKBONE_URLS[net])
    return os.path.join(torch.hub.get_dir(), "checkpoints", filename)


def lpips_available(net: str = "alex") -> bool:
    """True if the ImageNet backbone weights for ``net`` are already on disk, so that a
    pretrained LPIPS can be built without a network. Never downloads anything.

    Raises:
        ValueError: if ``net`` is not ``"alex"`` or ``"vgg"``.
    """
    return os.path.isfile(lpips_weights_path(net))


def _missing_weights_message(net: str) -> str:
    path = lpips_weights_path(net)
    builder = _TORCHVISION_BUILDERS[net]
    return (
        f"LPIPS(net={net!r}) needs torchvision's ImageNet {builder} weights, but {path} is "
        f"missing and nothing is downloaded here. With network access, run once:\n"
        f'    python -c "import torchvision; '
        f"torchvision.models.{builder}(weights='IMAGENET1K_V1')\"\n"
        f"which saves the file there, or copy {os.path.basename(path)} (from "
        f"{BACKBONE_URLS[net]}) into {os.path.dirname(path)}."
    )


class LPIPSMetric(nn.Module):
    """A frozen LPIPS model: ``metric(x, y)`` gives one distance per image pair.

    Gradients flow to the inputs (not to the frozen weights), so it also serves as the
    perceptual loss of :class:`ldm_teach.autoencoders.losses.AutoencoderLoss`.

    Args:
        net: backbone, ``"alex"`` (the lpips default, the best forward metric in Zhang et
            al.) or ``"vgg"`` (the backbone of the perceptual loss in taming and LDM).
        pretrained: True: ImageNet backbone + the calibrated linear weights shipped in
            ``lpips`` (the real metric). False: random backbone and random linear layers,
            no file read at all; only for tests and offline demos of the plumbing, the
            numbers are not LPIPS.
    Raises:
        ValueError: for an unknown ``net``.
        RuntimeError: if ``pretrained`` and the backbone weights are not on disk
            (see :func:`lpips_weights_path`); the message says how to get them.
    """

    def __init__(self, net: str = "alex", pretrained: bool = True) -> None:
        super().__init__()
        _check_net(net)
        if pretrained and not lpips_available(net):
            raise RuntimeError(_missing_weights_message(net))
        import lpips  # imported here: it imports torchvision, which is slow to load

        with warnings.catch_warnings():
            # lpips still calls torchvision's deprecated ``pretrained=`` argument
            warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")
            self.model = lpips.LPIPS(
                net=net, pretrained=pretrained, pnet_rand=not pretrained, verbose=False
            )
        self.net = net
        self.model.eval().requires_grad_(False)

    def forward(self, x: Tensor, y: Tensor, normalize: bool = False) -> Tensor:
        """LPIPS distance of each image pair.

        Args:
            x, y: images (B, C, H, W), C in {1, 3}, same shape; in [-1, 1], or in [0, 1]
                with ``normalize=True``. H, W >= 31 for AlexNet, >= 16 for VGG.
            normalize: inputs are in [0, 1]; they are mapped to 2x - 1 first.
        Returns:
            (B,) distances, >= 0, 0 for identical images.
        Raises:
            ValueError: on a shape or dtype mismatch, non-float inputs, an empty batch
                (B = 0), a channel count other than 1 or 3, images smaller than the
                backbone needs, NaN/inf values, or values beyond the input range by more
                than ``RANGE_SLACK`` (see the module docstring); all checked before the
                network runs.
        Warns:
            UserWarning: with ``normalize=False``, when every value of x and y lies in
                [0, 1]: [0, 1] images need ``normalize=True``.
        """
        for name, t in (("x", x), ("y", y)):
            if not isinstance(t, Tensor) or not t.is_floating_point():
                kind = t.dtype if isinstance(t, Tensor) else type(t).__name__
                raise ValueError(f"{name} must be a floating-point tensor, got {kind}")
        if x.shape != y.shape:
            raise ValueError(
                f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
            )
        if x.dtype != y.dtype:
            raise ValueError(f"x and y must have the same dtype, got {x.dtype} and {y.dtype}")
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"x must have shape (B, 1 or 3, H, W), got {tuple(x.shape)}")
        if x.shape[0] == 0:
            raise ValueError(f"x and y must hold at least one image, got shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < MIN_SIDE[self.net]:
            raise ValueError(
                f"LPIPS-{self.net} needs H and W >= {MIN_SIDE[self.net]}, got "
                f"{x.shape[-2]}x{x.shape[-1]}; upsample the images first"
            )
        normalize = check_bool(normalize, "normalize")
        _check_range(x, y, normalize)
        if normalize:  # [0, 1] -> [-1, 1], as lpips does with its own normalize flag
            x, y = 2 * x - 1, 2 * y - 1
        if x.shape[1] == 1:  # grayscale: the backbones expect RGB
            x, y = x.expand(-1, 3, -1, -1), y.expand(-1, 3, -1, -1)  # (B, 3, H, W)
        return self.model(x, y).flatten()  # (B, 1, 1, 1) -> (B,)


def _check_range(x: Tensor, y: Tensor, normalize: bool) -> None:
    """The input-range checks of :meth:`LPIPSMetric.forward` (module docstring)."""
    x, y = x.detach(), y.detach()  # only values are read; no graph, no autograd warning
    lo_in = 0.0 if normalize else -1.0  # the documented input interval [lo_in, 1]
    width = 1.0 - lo_in
    for name, t in (("x", x), ("y", y)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must be finite, got NaN or inf values")
        lo, hi = float(t.min()), float(t.max())
        # the slack is RANGE_SLACK in [-1, 1] units, i.e. RANGE_SLACK * width / 2 here
        slack = RANGE_SLACK * width / 2
        if lo < lo_in - slack or hi > 1.0 + slack:
            raise ValueError(
                f"{name} has values in [{lo:.3g}, {hi:.3g}], far outside [{lo_in:g}, 1] (more "
                f"than {slack:g} beyond); LPIPS expects images in [-1, 1], or in [0, 1] with "
                f"normalize=True"
                + (" (pass normalize=False for images in [-1, 1])" if normalize else "")
            )
    if not normalize and float(torch.minimum(x.min(), y.min())) >= 0.0:
        warnings.warn(
            "every value of x and y lies in [0, 1], but LPIPS expects [-1, 1] images: if "
            "these are [0, 1] images, pass normalize=True (without it the distance is wrong)",
            UserWarning,
            stacklevel=2,
        )


_CACHE: dict[str, LPIPSMetric] = {}


def lpips_distance(x: Tensor, y: Tensor, net: str = "alex", normalize: bool = False) -> Tensor:
    """LPIPS distance with the pretrained metric (built once per ``net``, then reused).

    Args:
        x, y: images (B, C, H, W), C in {1, 3}; in [-1, 1], or [0, 1] with ``normalize``.
        net: ``"alex"`` or ``"vgg"``.
        normalize: inputs are in [0, 1] (converted as 2x - 1).
    Returns:
        (B,) distances, on the device of x (the model is moved there).
    Raises:
        RuntimeError: if the backbone weights are not on disk; the message names the
            missing file and how to obtain it with network access.
        ValueError: as :meth:`LPIPSMetric.forward`, and for values outside the input range
            (beyond 1e-3; clamp reconstructions first).
    Warns:
        UserWarning: as :meth:`LPIPSMetric.forward`, for inputs all in [0, 1] without
            ``normalize``.
    """
    lo = 0.0 if normalize else -1.0
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, Tensor) or not t.is_floating_point() or t.numel() == 0:
            kind = f"{t.dtype} {tuple(t.shape)}" if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{name} must be a non-empty floating-point tensor, got {kind}")
        if t.min() < lo - 1e-3 or t.max() > 1.0 + 1e-3:
            raise ValueError(
                f"{name} has values in [{float(t.min()):.3g}, {float(t.max()):.3g}], outside "
                f"[{lo:g}, 1]; clamp or rescale it"
                + (" (pass normalize=False for images in [-1, 1])" if normalize else "")
            )
    if net not in _CACHE:
        _CACHE[net] = LPIPSMetric(net, pretrained=True)
    metric = _CACHE[net].to(x.device)
    return metric(x, y, normalize=normalize)
