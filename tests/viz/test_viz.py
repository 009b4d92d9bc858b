"""Image grids and 2-D latent maps (ldm_teach.viz)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from ldm_teach.viz import (  # noqa: E402
    embed_2d,
    image_grid_tensor,
    plot_embedding,
    save_image_grid,
    show_images,
    to_uint8_grid,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _images(B=5, C=1, H=4, W=6, seed=0):
    return torch.rand(B, C, H, W, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# ---- grids ------------------------------------------------------------------------------


def test_grid_shape_and_tile_placement():
    B, H, W, pad, nrow = 5, 4, 6, 2, 2
    x = _images(B, 1, H, W)
    grid = to_uint8_grid(x, nrow=nrow, padding=pad)
    # ceil(5 / 2) = 3 rows of 2 tiles, each tile (H + pad) x (W + pad), plus one outer pad
    assert grid.shape == (3 * (H + pad) + pad, 2 * (W + pad) + pad)
    assert grid.dtype == np.uint8
    expected = ((x + 1) / 2 * 255).round().to(torch.uint8).numpy()
    for k in range(B):
        r, c = divmod(k, nrow)
        y0, x0 = r * (H + pad) + pad, c * (W + pad) + pad
        tile = grid[y0 : y0 + H, x0 : x0 + W]
        assert np.abs(tile.astype(int) - expected[k, 0].astype(int)).max() <= 1
    assert (grid[:pad] == 255).all()  # white padding
    last = grid[2 * (H + pad) + pad :, 1 * (W + pad) + pad :]  # the empty sixth tile
    assert (last == 255).all()


def test_grid_value_mapping_and_clamping():
    x = torch.tensor([-1.5, -1.0, 0.0, 1.0, 1.5]).view(1, 1, 1, 5)
    grid = to_uint8_grid(x)  # a single image is returned without padding
    assert grid.tolist() == [[0, 0, 128, 255, 255]]


def test_rgb_grid_keeps_colour():
    x = -torch.ones(2, 3, 4, 4)
    x[:, 0] = 1.0  # pure red
    grid = to_uint8_grid(x, nrow=2, padding=0)
    assert grid.shape == (4, 8, 3)
    assert (grid[..., 0] == 255).all() and (grid[..., 1:] == 0).all()


@pytest.mark.parametrize("shape", [(2, 2, 4, 4), (2, 4, 4), (2, 4, 4, 4)])
def test_grid_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match="images must have shape"):
        to_uint8_grid(torch.zeros(shape))


def test_grid_rejects_bad_nrow():
    with pytest.raises(ValueError, match="nrow"):
        to_uint8_grid(torch.zeros(2, 1, 4, 4), nrow=0)


def test_image_grid_tensor_is_chw_in_unit_range():
    for C in (1, 3):
        x = _images(4, C)
        t = image_grid_tensor(x, nrow=2)
        arr = to_uint8_grid(x, nrow=2)
        assert t.shape == (3, arr.shape[0], arr.shape[1])
        assert t.dtype == torch.float32 and 0.0 <= t.min() and t.max() <= 1.0
        ref = arr if C == 3 else np.repeat(arr[..., None], 3, axis=-1)
        assert torch.equal(t, torch.from_numpy(ref).permute(2, 0, 1).float() / 255)


def test_save_image_grid_writes_upscaled_png(tmp_path):
    x = _images(3, 1)
    path = save_image_grid(x, tmp_path / "figs" / "grid.png", nrow=3, upscale=3)
    assert path == tmp_path / "figs" / "grid.png"
    with Image.open(path) as img:
        assert img.format == "PNG"
        got = np.asarray(img)
    arr = to_uint8_grid(x, nrow=3)
    assert np.array_equal(got, arr.repeat(3, axis=0).repeat(3, axis=1))


def test_save_image_grid_bad_upscale(tmp_path):
    with pytest.raises(ValueError, match="upscale"):
        save_image_grid(_images(), tmp_path / "g.png", upscale=0)


@pytest.mark.parametrize("upscale", [10**5, 33, -1, 2.5, True, "2"])
def test_save_image_grid_bounds_upscale_before_allocating(tmp_path, upscale):
    with pytest.raises(ValueError, match=r"upscale must be an int in \[1, 32\]"):
        save_image_grid(_images(), tmp_path / "g.png", upscale=upscale)
    assert not (tmp_path / "g.png").exists()


def test_save_image_grid_bounds_the_upscaled_size(tmp_path):
    big = _images(100, 1, 32, 32)  # a 342x342 grid: x 32 is 120 million pixels
    with pytest.raises(ValueError, match="choose a smaller upscale"):
        save_image_grid(big, tmp_path / "g.png", upscale=32)
    save_image_grid(big, tmp_path / "g.png", upscale=8)


def test_save_image_grid_is_atomic(tmp_path, monkeypatch):
    from ldm_teach.training import checkpoint as ckpt

    path = tmp_path / "grid.png"
    path.write_bytes(b"the previous grid")

    def full(src, dst):
        raise OSError(28, "No space left on device")

    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        save_image_grid(_images(), path)  # a file the user has is not replaced silently
    assert path.read_bytes() == b"the previous grid"
    monkeypatch.setattr(ckpt.os, "replace", full)
    with pytest.raises(OSError, match="No space"):
        save_image_grid(_images(), path, overwrite=True)
    assert path.read_bytes() == b"the previous grid"  # not truncated
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]
    with pytest.raises(ValueError, match="image suffix"):
        save_image_grid(_images(), tmp_path / "grid.txt")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_images_are_refused_not_drawn_black(tmp_path, bad):
    x = _images(3, 1)
    x[0, 0, 0, :2] = bad
    x[2, 0, 1, 1] = bad
    for draw in (
        to_uint8_grid,
        image_grid_tensor,
        show_images,
        lambda images: save_image_grid(images, tmp_path / "g.png"),
    ):
        with pytest.raises(ValueError, match=r"images has 3 non-finite values \(NaN or inf\)"):
            draw(x)
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize(
    "images, match",
    [
        (torch.full((2, 1, 4, 4), 200, dtype=torch.uint8), "floating-point tensor.*uint8"),
        (torch.ones(2, 1, 4, 4, dtype=torch.bool), "floating-point tensor.*bool"),
        (torch.full((2, 1, 4, 4), 255.0), r"values in \[-1, 1\].*255"),  # was near-white
        (torch.zeros(0, 1, 4, 4), "empty batch"),  # was ZeroDivisionError
    ],
)
def test_grids_refuse_integer_out_of_range_and_empty_images(tmp_path, images, match):
    for draw in (to_uint8_grid, show_images, lambda x: save_image_grid(x, tmp_path / "g.png")):
        with pytest.raises(ValueError, match=match):
            draw(images)
    assert not (tmp_path / "g.png").exists()


def test_show_images_draws_the_grid():
    x = _images(4, 1)
    ax = show_images(x, nrow=2, title="digits")
    assert ax.get_title() == "digits"
    assert np.array_equal(np.asarray(ax.images[0].get_array()), to_uint8_grid(x, nrow=2))
    _, own = plt.subplots()
    assert show_images(_images(2, 3), ax=own) is own


def test_show_image_rows_labels_each_row_and_column():
    from ldm_teach.viz import show_image_rows

    rows = {"latent": _images(3, 1, 8, 8, seed=1), "pixels": _images(3, 1, 8, 8, seed=2)}
    ax = show_image_rows(rows, ["t=0", "t=1", "t=2"], title="forward")
    drawn = np.asarray(ax.images[0].get_array())
    assert np.array_equal(drawn, to_uint8_grid(torch.cat(list(rows.values())), nrow=3))
    assert [t.get_text() for t in ax.get_yticklabels()] == ["latent", "pixels"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["t=0", "t=1", "t=2"]
    # a tick sits at the centre of every tile (2 pixels of padding, 8 pixels per image)
    assert list(ax.get_yticks()) == [6.0, 16.0] and list(ax.get_xticks()) == [6.0, 16.0, 26.0]
    # the grid, not the labels, gets scale inches per image
    fig = ax.figure
    assert ax.get_position().width * fig.get_figwidth() == pytest.approx(0.75 * 3)
    _, own = plt.subplots()
    assert show_image_rows(rows, ax=own) is own


def test_show_image_rows_refuses_ragged_rows_and_wrong_labels():
    from ldm_teach.viz import show_image_rows

    with pytest.raises(ValueError, match="non-empty dict"):
        show_image_rows({})
    with pytest.raises(ValueError, match="same shape"):
        show_image_rows({"a": _images(3), "b": _images(2)})
    with pytest.raises(ValueError, match="same shape"):
        show_image_rows({"a": "not images"})
    with pytest.raises(ValueError, match="one label per column"):
        show_image_rows({"a": _images(3)}, ["x", "y"])
    with pytest.raises(ValueError, match="scale"):
        show_image_rows({"a": _images(3)}, scale=0)


# ---- 2-D embeddings ---------------------------------------------------------------------


def _clusters(n_per=10, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = 10 * torch.eye(3, dim)
    x = torch.cat([c + 0.5 * torch.randn(n_per, dim, generator=g) for c in centres])
    return x.view(3 * n_per, 2, 2, 2), torch.arange(3).repeat_interleave(n_per)


def _nn_label_accuracy(xy, labels):
    d = ((xy[:, None] - xy[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float((labels[d.argmin(1)] == labels).mean())


def test_tsne_embeds_and_keeps_clusters():
    latents, labels = _clusters()
    xy = embed_2d(latents, "tsne", seed=0)
    assert xy.shape == (30, 2) and xy.dtype == np.float32
    assert _nn_label_accuracy(xy, labels.numpy()) == 1.0
    assert np.array_equal(xy, embed_2d(latents.numpy(), "tsne", seed=0))  # seeded, numpy ok


@pytest.mark.slow
def test_umap_embeds_and_keeps_clusters():
    pytest.importorskip("umap")
    latents, labels = _clusters()
    xy = embed_2d(latents, "umap", seed=0)
    assert xy.shape == (30, 2) and xy.dtype == np.float32
    assert _nn_label_accuracy(xy, labels.numpy()) == 1.0


def test_embed_2d_errors():
    latents, _ = _clusters()
    with pytest.raises(ValueError, match="method"):
        embed_2d(latents, "pca")
    with pytest.raises(ValueError, match="at least 5"):
        embed_2d(latents[:4], "tsne")
    with pytest.raises(ValueError, match="latents must have shape"):
        embed_2d(torch.zeros(10), "tsne")


@pytest.mark.parametrize(
    "latents, match",
    [
        (torch.zeros(10, 3), "must not all be identical"),  # t-SNE used to segfault
        (torch.randn(10, 1), "at least 2 features for t-SNE"),  # raw scikit-learn PCA error
        (torch.full((10, 3), float("nan")), "must be finite"),
        (torch.randn(10, 3) * 1e20, "at most 1e15"),  # float32 distances overflow: all zeros
    ],
)
def test_embed_2d_refuses_degenerate_latents(latents, match):
    with pytest.raises(ValueError, match=match):
        embed_2d(latents, "tsne")


def test_plot_embedding_scatter():
    xy = np.random.default_rng(0).normal(size=(12, 2)).astype(np.float32)
    labels = torch.arange(12) % 10
    ax = plot_embedding(xy, labels, title="latents")
    assert ax.get_title() == "latents"
    offsets = ax.collections[0].get_offsets()
    assert np.allclose(np.asarray(offsets), xy)
    assert np.array_equal(np.asarray(ax.collections[0].get_array()), labels.numpy())
    assert len(ax.figure.axes) == 2  # the plot and its colour bar


def test_smooth_and_plot_curves():
    from ldm_teach.viz import plot_curves, smooth

    assert np.allclose(smooth([1, 2, 3, 4], 2), [1.5, 2.5, 3.5])
    assert np.allclose(smooth([1, 2], 5), [1, 2])  # shorter than the window: unchanged
    with pytest.raises(ValueError, match="window"):
        smooth([1.0], 0)
    ax = plot_curves({"a": [3, 2, 1], "b": [1, 1, 1]}, every=10, logy=True)
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["a", "b"]
    assert list(lines[0].get_xdata()) == [0, 10, 20]
    assert ax.get_yscale() == "log"
    plt.close(ax.figure)


def test_plot_rate_distortion_groups_by_channels():
    from ldm_teach.viz import plot_rate_distortion

    pts = [
        {"f": f, "channels": c, "raw_bpp": 8 * c / f**2, "psnr_db": 20 + 10 / f}
        for f in (2, 4)
        for c in (4, 8)
    ]
    ax = plot_rate_distortion(pts, jpeg=[{"bpp": 0.5, "psnr_db": 25}, {"bpp": 1, "psnr_db": 30}])
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert labels == ["KL autoencoder, c=4", "KL autoencoder, c=8", "JPEG (Pillow)"]
    assert ax.get_xscale() == "log"
    plt.close(ax.figure)


@pytest.mark.slow
def test_umap_on_fewer_points_than_n_neighbors_clamps_without_warning(recwarn):
    import warnings

    with warnings.catch_warnings():  # the first import of umap-learn may warn about TF
        warnings.simplefilter("ignore")
        pytest.importorskip("umap")
    recwarn.clear()
    latents, _ = _clusters(n_per=3)  # 9 points, fewer than UMAP's default 15 neighbours
    xy = embed_2d(latents, "umap", seed=0)
    assert xy.shape == (9, 2) and xy.dtype == np.float32 and np.isfinite(xy).all()
    assert [str(w.message) for w in recwarn] == []
    with pytest.raises(ValueError, match="n_neighbors"):
        embed_2d(latents, "umap", n_neighbors=1)


@pytest.mark.parametrize("suffix", [".psd", ".ico", ".h5", ".xpm", ".txt", ""])
def test_grids_are_written_only_in_formats_that_keep_them_whole(tmp_path, suffix):
    # found by the third bad-input pass: .psd raised KeyError, .ico shrank the grid
    path = tmp_path / f"grid{suffix}"
    with pytest.raises(ValueError, match="image suffix such as .png"):
        save_image_grid(_images(), path)
    assert not path.exists()
    for ok in (".png", ".jpg", ".bmp", ".tif", ".webp"):
        assert save_image_grid(_images(), tmp_path / f"grid{ok}").is_file()


def test_demo_refuses_an_unwritable_format_before_sampling(tmp_path, capsys):
    from ldm_teach.cli import main

    assert main(["demo", "--out", str(tmp_path / "x.psd"), "--num-samples", "10"]) == 2
    assert "image suffix" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_plot_arguments_are_checked():
    # found by the third bad-input pass: every=0 and scale=nan were accepted
    from ldm_teach.viz import plot_curves, show_images

    for every in (0, -1, 1.5):
        with pytest.raises(ValueError, match="every must be an int >= 1"):
            plot_curves({"loss": [1.0, 0.5]}, every=every)
    for scale in (0, float("nan"), -1, 100):
        with pytest.raises(ValueError, match="scale must be a finite number in"):
            show_images(_images(), scale=scale)
