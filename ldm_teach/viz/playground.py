"""A prompt playground for a text-to-image model: type a caption, set guidance and steps,
press generate, and see the image beside each word's cross-attention map (DAAM).

In JupyterLab :meth:`PromptPlayground.widget` is a text box, two sliders, a button and an
image; :meth:`PromptPlayground.static` is the same figure for one prompt, for headless
runs and readers of the stored notebook (``show(playground)`` picks one, as for the
steppers).
"""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from ldm_teach.argcheck import check_int
from ldm_teach.pipelines.attention_maps import word_attention_maps
from ldm_teach.viz.grids import to_uint8_grid

__all__ = ["PromptPlayground"]

SPECIAL = ("<|startoftext|>", "<|endoftext|>")


class PromptPlayground:
    """Generate from a prompt and show the per-word attention maps.

    Args:
        model: a :class:`~ldm_teach.pipelines.TextToImage`.
        prompt: the first prompt shown.
        guidance_scale: the first guidance scale (the slider spans 0-8).
        num_inference_steps: the first number of DDIM steps (the slider spans 5-50).
        seed: the noise seed (the same seed redraws the same sample).
    """

    def __init__(
        self,
        model,
        prompt: str = "a large blue triangle at the bottom right",
        guidance_scale: float = 3.0,
        num_inference_steps: int = 25,
        seed: int = 0,
    ) -> None:
        self.model = model
        self.prompt = prompt
        self.guidance_scale = float(guidance_scale)
        self.num_inference_steps = check_int(num_inference_steps, "num_inference_steps", lo=1)
        self.seed = check_int(seed, "seed", lo=0)

    def figure(self, prompt: str, guidance_scale: float, num_inference_steps: int) -> Figure:
        """The image and one heat map per word of ``prompt`` (start/end tokens left out).

        Raises:
            ValueError: on an unknown word or a bad number (from ``model.sample``).
        """
        images, maps, tokens = word_attention_maps(
            self.model,
            prompt,
            guidance_scale=guidance_scale,
            num_inference_steps=num_inference_steps,
            generator=torch.Generator().manual_seed(self.seed),
        )
        words = [(i, t) for i, t in enumerate(tokens[0]) if t not in SPECIAL]
        fig = Figure(figsize=(1.6 * (1 + len(words)), 1.9), dpi=100)
        axes = fig.subplots(1, 1 + len(words), squeeze=False)[0]
        image = to_uint8_grid(images[:1], nrow=1, padding=0)  # (H, W, 3)
        axes[0].imshow(image)
        axes[0].set_title("sample", fontsize=9)
        grey = image.mean(-1) if image.ndim == 3 else image
        for ax, (i, word) in zip(axes[1:], words, strict=True):
            ax.imshow(grey, cmap="gray")
            ax.imshow(maps[0, i].numpy(), cmap="jet", alpha=0.5, vmin=0, vmax=1)
            ax.set_title(word, fontsize=9)
        for ax in axes:
            ax.set_axis_off()
        fig.tight_layout()
        return fig

    def render(self, prompt: str, guidance_scale: float, num_inference_steps: int) -> bytes:
        """:meth:`figure` as PNG bytes."""
        buf = io.BytesIO()
        fig = self.figure(prompt, guidance_scale, num_inference_steps)
        fig.savefig(buf, format="png", dpi=fig.dpi)
        plt.close(fig)
        return buf.getvalue()

    def static(self) -> Figure:
        """The figure of the first prompt and settings."""
        return self.figure(self.prompt, self.guidance_scale, self.num_inference_steps)

    def widget(self):
        """An ipywidgets VBox: prompt box, guidance and steps sliders, a generate button,
        the figure, and a line for errors (an unknown word is reported, not raised).

        Raises ImportError if ipywidgets is not installed.
        """
        import ipywidgets as w

        text = w.Text(value=self.prompt, description="prompt", layout=w.Layout(width="520px"))
        guidance = w.FloatSlider(
            value=self.guidance_scale, min=0.0, max=8.0, step=0.5, description="guidance"
        )
        steps = w.IntSlider(
            value=self.num_inference_steps, min=5, max=50, step=5, description="steps"
        )
        button = w.Button(description="generate", button_style="primary")
        image = w.Image(
            value=self.render(self.prompt, self.guidance_scale, self.num_inference_steps),
            format="png",
        )
        message = w.HTML(value="")

        def generate(_):
            try:
                image.value = self.render(text.value, guidance.value, steps.value)
                message.value = ""
            except ValueError as err:  # an unknown word, a too long prompt
                message.value = f"<span style='color:#b00'>{err}</span>"

        button.on_click(generate)
        box = w.VBox([text, w.HBox([guidance, steps, button]), image, message])
        box.add_class("ldm-teach-playground")
        return box
