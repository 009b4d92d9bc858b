"""Interoperability with the published models: Stable Diffusion 1.5, 2.1 and XL built from
their official configs (shipped as JSON, no weights, nothing downloaded), for the anatomy of
Section 10.4.1.

reference_models.py  reference_config, build_reference (on the meta device), reference_shapes,
                     reference_evaluations (each network with the inputs of one call)
configs/             config.json of each model's unet, vae, text_encoder(s)
"""

from ldm_teach.interop.reference_models import (
    REFERENCE_MODELS,
    build_reference,
    reference_config,
    reference_evaluations,
    reference_shapes,
)

__all__ = [
    "REFERENCE_MODELS",
    "build_reference",
    "reference_config",
    "reference_evaluations",
    "reference_shapes",
]
