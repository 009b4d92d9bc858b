"""load_stable_diffusion reads a diffusers folder into the course's modules, and sampling it
gives diffusers' StableDiffusionPipeline images: the same latents after every DDIM step."""

import json

import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from ldm_teach.interop import load_stable_diffusion  # noqa: E402
from ldm_teach.pipelines import TextToImage  # noqa: E402
from tests.interop.tiny_sd import SD2_SCHEDULER, SD2_UNET, build_tiny_pipeline  # noqa: E402

PROMPTS = ["a photograph of an astronaut riding a horse", "a red cube on a table"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-sd")
    build_tiny_pipeline(path)
    return path


def _diffusers_run(folder, steps, guidance_scale, latents, negative_prompt=None):
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = diffusers.DDIMScheduler.from_config(pipe.scheduler.config)
    per_step = []

    def grab(pipeline, i, t, kwargs):
        per_step.append(kwargs["latents"].clone())
        return kwargs

    out = pipe(
        PROMPTS,
        negative_prompt=None if negative_prompt is None else [negative_prompt] * len(PROMPTS),
        num_inference_steps=steps,
        guidance_scale=guidance_scale,
        latents=latents.clone(),
        output_type="pt",
        callback_on_step_end=grab,
    ).images  # (B, 3, H, W) in [0, 1]
    return out, per_step


@pytest.mark.parametrize("guidance_scale, negative", [(7.5, None), (4.0, "blurry"), (1.0, None)])
def test_sampling_matches_diffusers_step_by_step(folder, guidance_scale, negative):
    model = load_stable_diffusion(folder)
    assert isinstance(model, TextToImage) and model.image_size == 16
    steps = 6
    latents = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    expected_images, expected_steps = _diffusers_run(
        folder, steps, guidance_scale, latents, negative
    )
    ours_steps = []
    images = model.sample(
        PROMPTS,
        negative_prompt=negative,
        guidance_scale=guidance_scale,
        num_inference_steps=steps,
        x_T=latents.clone(),
        step_callback=lambda i, t, z: ours_steps.append(z.clone()),
    )
    assert model.timesteps(steps) == [831, 665, 499, 333, 167, 1]  # "leading" + steps_offset 1
    assert len(ours_steps) == len(expected_steps) == steps
    for i, (a, b) in enumerate(zip(ours_steps, expected_steps, strict=True)):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0, msg=lambda m, i=i: f"step {i}: {m}")
    torch.testing.assert_close((images + 1) / 2, expected_images, atol=1e-4, rtol=0)


def test_sd2_layout_with_v_prediction_matches_diffusers(tmp_path):
    build_tiny_pipeline(tmp_path, seed=1, unet=SD2_UNET, scheduler=SD2_SCHEDULER)
    model = load_stable_diffusion(tmp_path)
    assert model.prediction_type == "v_prediction" and model.unet.config.linear_projection
    latents = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(4))
    expected_images, expected_steps = _diffusers_run(tmp_path, 5, 7.5, latents)
    ours_steps = []
    images = model.sample(
        PROMPTS,
        guidance_scale=7.5,
        num_inference_steps=5,
        x_T=latents.clone(),
        step_callback=lambda i, t, z: ours_steps.append(z.clone()),
    )
    assert model.timesteps(5) == [999, 799, 599, 399, 199]  # "trailing"
    for a, b in zip(ours_steps, expected_steps, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    torch.testing.assert_close((images + 1) / 2, expected_images, atol=1e-4, rtol=0)


def test_seeded_noise_is_diffusers_noise(folder):
    """Without given latents, the same generator seed draws the same z_T on the CPU."""
    model = load_stable_diffusion(folder)
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = diffusers.DDIMScheduler.from_config(pipe.scheduler.config)
    expected = pipe(
        PROMPTS[:1],
        num_inference_steps=3,
        generator=torch.Generator().manual_seed(7),
        output_type="pt",
    ).images
    ours = model.sample(
        PROMPTS[:1],
        guidance_scale=7.5,
        num_inference_steps=3,
        generator=torch.Generator().manual_seed(7),
    )
    torch.testing.assert_close((ours + 1) / 2, expected, atol=1e-4, rtol=0)


def test_context_is_the_text_encoders_hidden_states(folder):
    model = load_stable_diffusion(folder)
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(folder, local_files_only=True)
    ids = pipe.tokenizer(PROMPTS, padding="max_length", max_length=77, return_tensors="pt")
    with torch.no_grad():
        expected = pipe.text_encoder(ids.input_ids)[0]
    torch.testing.assert_close(
        model.encode_text(model.tokenize(PROMPTS)), expected, atol=1e-5, rtol=0
    )


def test_long_prompts_are_cut_with_a_warning(folder):
    model = load_stable_diffusion(folder)
    with pytest.warns(UserWarning, match="cut"):
        ids = model.tokenize(" ".join(["astronaut"] * 100))
    assert ids.shape == (1, 77)


def test_missing_parts_and_other_pipelines_are_named(folder, tmp_path):
    with pytest.raises(FileNotFoundError, match="model_index.json"):
        load_stable_diffusion(tmp_path)
    (tmp_path / "model_index.json").write_text(
        json.dumps({"_class_name": "StableDiffusionXLPipeline"})
    )
    with pytest.raises(ValueError, match="StableDiffusionXLPipeline"):
        load_stable_diffusion(tmp_path)
    (tmp_path / "model_index.json").write_text(
        json.dumps({"_class_name": "StableDiffusionPipeline"})
    )
    with pytest.raises(FileNotFoundError, match="unet"):
        load_stable_diffusion(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_stable_diffusion(tmp_path / "nowhere")


def test_generate_command_runs_a_folder(folder, tmp_path, capsys):
    from PIL import Image

    from ldm_teach.cli import main

    out = tmp_path / "astronaut.png"
    args = ["generate", PROMPTS[0], "--model", str(folder), "--steps", "3", "--out", str(out)]
    assert main(args) == 0
    assert Image.open(out).format == "PNG"
    assert f"loaded {folder} (16 px, cpu, float32)" in capsys.readouterr().out
    assert main(args) == 2  # exists: not overwritten silently
