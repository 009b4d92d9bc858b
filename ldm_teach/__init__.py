"""ldm_teach: a small, readable Latent Diffusion Models stack for the ldm-teach course.

Chapter 10 of the course's textbook (Latent Diffusion Models, Rombach et al. 2022,
arXiv:2112.10752) taught with code a reader can follow line by line:

    data -> autoencoders (stage 1) -> latents -> diffusion + models.unet (stage 2)
         -> samplers -> decode -> metrics / viz

Subpackages are imported explicitly (``from ldm_teach.diffusion import q_sample``); this
top level only offers the version and the device choice shared by every notebook.
"""

from ldm_teach.device import default_device, seed_everything

__version__ = "0.1.0"

__all__ = ["__version__", "default_device", "seed_everything"]
