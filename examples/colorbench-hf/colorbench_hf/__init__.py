"""colorbench-hf: Hugging Face transformers CLIP and SigLIP as colorbench model adapters.

An example of a third-party plugin: it is found through the ``colorbench`` entry-point
group in its own pyproject.toml and uses only colorbench's public contracts
(``colorbench.hookimpl``, ``colorbench.plugin.adapter.ContrastiveAdapter``,
``colorbench.errors.ColorbenchError``).
"""

from collections.abc import Callable

import colorbench

__version__ = "0.1.0"


@colorbench.hookimpl
def colorbench_register_models(register: Callable[..., None]) -> None:
    # the factory module imports transformers, so it is loaded only when a model is built
    def create(model_id: str, **options):
        from colorbench_hf import models

        return models.create(model_id, **options)

    register("hf-clip:*", create, description="transformers CLIPModel from a cached repo or folder")
    register(
        "hf-siglip:*", create, description="transformers SiglipModel from a cached repo or folder"
    )
    register("hf-clip-tiny-random", create, description="tiny random CLIP (seeded; offline tests)")
    register(
        "hf-siglip-tiny-random", create, description="tiny random SigLIP (seeded; offline tests)"
    )
