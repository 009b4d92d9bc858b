"""Two-dimensional maps of latents: t-SNE (van der Maaten & Hinton 2008, JMLR 9) through
scikit-learn's ``TSNE``, and UMAP (McInnes et al. 2018, arXiv:1802.03426) through
umap-learn, each drawn as a scatter plot coloured by label."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from torch import Tensor


def _flatten(latents: Tensor | np.ndarray) -> np.ndarray:
    arr = latents.detach().cpu().numpy() if isinstance(latents, Tensor) else np.asarray(latents)
    if arr.ndim < 2:
        raise ValueError(f"latents must have shape (N, ...), got {arr.shape}")
    return arr.reshape(arr.shape[0], -1).astype(np.float32)  # (N, D)


def embed_2d(
    latents: Tensor | np.ndarray, method: str = "tsne", seed: int = 0, perplexity: float = 30.0
) -> np.ndarray:
    """Embed (N, ...) latents in 2-D with t-SNE or UMAP; returns (N, 2) float32.

    Raises:
        ValueError: if ``method`` is not "tsne" or "umap", or there are too few points.
    """
    x = _flatten(latents)
    if x.shape[0] < 5:
        raise ValueError(f"need at least 5 latents to embed, got {x.shape[0]}")
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(perplexity, (x.shape[0] - 1) / 3)
        return (
            TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, max_iter=750)
            .fit_transform(x)
            .astype(np.float32)
        )
    if method == "umap":
        import umap

        return (
            umap.UMAP(n_components=2, random_state=seed, n_jobs=1)
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
