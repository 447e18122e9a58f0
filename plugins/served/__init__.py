"""Any VLM behind an OpenAI-compatible endpoint: ``served:<served model name>@<base URL>``.

vLLM, SGLang, TGI, Ollama, LM Studio, ``transformers serve`` and the clouds' OpenAI-compatible
APIs all take chat completions with images as data URIs. The model is asked each task's
question (generate mode) with the image as a **PNG** data URI (lossless: JPEG's chroma
subsampling would change the stimulus colours), greedy (``temperature`` 0, ``seed``), and its
text goes through the same answer parser as ``hf-vlm``. Every response is stored as it
arrives (:mod:`.store`), so a killed run resumes without asking anything twice, and an answer
that never came is *missing*, never a wrong answer. More servers of the same model join with
``--endpoint URL`` and share one work queue (:mod:`.pool`). httpx is an optional extra
(``pip install 'colorbench[served]'``), imported on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import colorbench

PREFIX = "served:"


def create(model_id: str, **options: Any) -> colorbench.plugin.adapter.GenerativeAdapter:
    """The factory of ``served:*`` (imports httpx on first use)."""
    from colorbench.plugins.served.adapter import create_adapter

    return create_adapter(model_id, **options)


@colorbench.hookimpl
def colorbench_register_models(register: Callable[..., None]) -> None:
    register(
        f"{PREFIX}*",
        create,
        description="VLM behind an OpenAI-compatible endpoint: served:<model name>@<base URL>",
    )
