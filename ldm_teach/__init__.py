"""ldm_teach: a small, readable Latent Diffusion Models stack for the ldm-teach course.

Chapter 10 of the course's textbook (Latent Diffusion Models, Rombach et al. 2022,
arXiv:2112.10752) taught with code a reader can follow line by line:

    data -> autoencoders (stage 1) -> latents -> diffusion + models.unet (stage 2)
         -> samplers -> decode -> metrics / viz

Subpackages are imported explicitly (``from ldm_teach.diffusion import q_sample``); this
top level only offers the version and the device choice shared by every notebook.

Layers (a module imports only its own subpackage and lower layers; CONTRIBUTING.md and
``tests/test_layering.py``):

    0  argcheck, config, device, claims
    1  data, nn
    2  autoencoders, diffusion, text
    3  models
    4  training, pipelines
    5  metrics, viz, interop, deploy, adapt
    6  pretrained
    7  grading
    8  cli
"""

__version__ = "0.1.0"

__all__ = ["__version__", "default_device", "seed_everything"]


def __getattr__(name: str):
    # Imported on first use, so that tools which never touch torch (the grader's pytest
    # plugin, ``ldm-teach --help``) do not pay for importing it.
    if name in ("default_device", "seed_everything"):
        from ldm_teach import device

        return getattr(device, name)
    raise AttributeError(f"module 'ldm_teach' has no attribute {name!r}")
