"""Generative VLMs from Hugging Face transformers: ``hf-vlm:<hub repo or local folder>``.

Any checkpoint of a supported family (:mod:`colorbench.plugins.hfvlm.families`) loads
through ``AutoModelForImageTextToText`` + ``AutoProcessor`` and is asked the questions
with its own chat template; ``hf-vlm-tiny-<family>`` are tiny random models of each family
built offline for tests and demos. transformers is an optional extra
(``pip install 'colorbench[vlm]'``): this module registers the ids without importing it,
so ``colorbench list`` stays fast and works without the extra.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import colorbench
from colorbench.plugins.hfvlm.families import FAMILIES, TINY_OUTSIDE_TABLE, supported

PREFIX = "hf-vlm:"
TINY_PREFIX = "hf-vlm-tiny-"


def create(model_id: str, **options: Any) -> colorbench.plugin.adapter.GenerativeAdapter:
    """The factory of every id this plugin registers (imports transformers on first use)."""
    from colorbench.plugins.hfvlm.load import create_adapter

    return create_adapter(model_id, **options)


@colorbench.hookimpl
def colorbench_register_models(register: Callable[..., None]) -> None:
    register(
        f"{PREFIX}*",
        create,
        description="transformers generative VLM (any AutoModelForImageTextToText), cached "
        f"hub repo or folder; fast likelihood for {supported()}",
    )
    for family in FAMILIES.values():
        register(
            f"{TINY_PREFIX}{family.model_type}",
            create,
            description=f"tiny random {family.name} (seeded, offline; tests and demos)",
        )
    for model_type in TINY_OUTSIDE_TABLE:
        register(
            f"{TINY_PREFIX}{model_type}",
            create,
            description=f"tiny random {model_type}, a family outside the table (generic path)",
        )
