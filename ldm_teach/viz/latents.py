"""Two-dimensional maps of latents: t-SNE (van der Maaten & Hinton 2008, JMLR 9) through
scikit-learn's ``TSNE``, and UMAP (McInnes et al. 2018, arXiv:1802.03426) through
umap-learn, each drawn as a scatter plot coloured by label."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
from torch import Tensor

from ldm_teach.argcheck import is_int


def _flatten(latents: Tensor | np.ndarray) -> np.ndarray:
    arr = latents.detach().cpu().numpy() if isinstance(latents, Tensor) else np.asarray(latents)
    if arr.ndim < 2:
        raise ValueError(f"latents must have shape (N, ...), got {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(
            f"latents must be real numbers, got dtype {arr.dtype} (a complex "
            "value would lose its imaginary part)"
        )
    return arr.reshape(arr.shape[0], -1).astype(np.float32)  # (N, D)


def embed_2d(
    latents: Tensor | np.ndarray,
    method: str = "tsne",
    seed: int = 0,
    perplexity: float = 30.0,
    n_neighbors: int = 15,
) -> np.ndarray:
    """Embed (N, ...) latents in 2-D with t-SNE or UMAP; returns (N, 2) float32.

    Args:
        latents: (N, ...) tensor or array, N >= 5; flattened to (N, D) float32.
        method: ``"tsne"`` or ``"umap"``.
        seed: random state of either method.
        perplexity: t-SNE's perplexity, > 0 (scikit-learn's default 30); clamped to
            (N - 1) / 3, since scikit-learn requires perplexity < N.
        n_neighbors: UMAP's neighbourhood size, an int >= 2 (umap-learn's default 15);
            clamped to N - 1, the most neighbours a point has, so that a small N runs
            exactly as UMAP would run after its own truncation, without its warning.
    Returns:
        (N, 2) float32 coordinates.
    Raises:
        ValueError: if ``method`` is not "tsne" or "umap", there are fewer than 5 points,
            a value is not finite (or above 1e15 in magnitude, where float32 distances
            overflow), all latents are identical (scikit-learn's t-SNE crashes the process
            on them), t-SNE gets a single feature (D = 1; its PCA initialisation needs 2),
            ``perplexity`` is not positive or ``n_neighbors`` is not an int >= 2.
    """
    x = _flatten(latents)
    if x.shape[0] < 5:
        raise ValueError(f"need at least 5 latents to embed, got {x.shape[0]}")
    if x.size == 0:
        raise ValueError(f"latents must have at least one feature, got shape {x.shape}")
    spread = x.max(axis=0) - x.min(axis=0)  # (D,)
    if not np.isfinite(spread).all() or np.abs(x).max() > 1e15:
        raise ValueError(
            "latents must be finite and at most 1e15 in magnitude, got range "
            f"[{x.min()}, {x.max()}]"
        )
    if not spread.max() > 0:
        raise ValueError(
            f"latents must not all be identical (zero variance), got {x.shape[0]} copies of "
            "one point; there is nothing to embed"
        )
    if method == "tsne" and x.shape[1] < 2:
        raise ValueError(
            f"latents must have at least 2 features for t-SNE (D >= 2, for its PCA "
            f"initialisation), got shape {x.shape} after flattening; use method='umap'"
        )
    if not perplexity > 0:
        raise ValueError(f"perplexity must be positive, got {perplexity}")
    if not is_int(n_neighbors) or (n_neighbors < 2):
        raise ValueError(f"n_neighbors must be an int >= 2, got {n_neighbors!r}")
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(perplexity, (x.shape[0] - 1) / 3)
        return (
            TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, max_iter=750)
            .fit_transform(x)
            .astype(np.float32)
        )
    if method == "umap":
        with warnings.catch_warnings():  # umap-learn's optional ParametricUMAP needs TF
            warnings.filterwarnings("ignore", message="Tensorflow not installed")
            import umap

        n_neighbors = min(int(n_neighbors), x.shape[0] - 1)
        return (
            umap.UMAP(n_components=2, n_neighbors=n_neighbors, random_state=seed, n_jobs=1)
            .fit_transform(x)
            .astype(np.float32)
        )
    raise ValueError(f"method must be 'tsne' or 'umap', got {method!r}")


def plot_embedding(
    xy: np.ndarray, labels: Tensor | np.ndarray, title: str = "", ax: plt.Axes | None = None
) -> plt.Axes:
    """Scatter (N, 2) points coloured by integer labels, with a legend."""
    labels = labels.cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.6))
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab10", s=6, alpha=0.8, vmin=-0.5, vmax=9.5)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    ax.figure.colorbar(sc, ax=ax, ticks=range(10), fraction=0.046, pad=0.02)
    return ax
