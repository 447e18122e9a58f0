"""An lmms-eval model that answers as colorbench's ideal-observer does (test support).

It is registered with lmms-eval the way a third-party package would be, through the
``lmms_eval.models`` entry-point group (``MANIFEST``), and sees only what any lmms-eval
model sees: the document's images and the question text. It hands both to the
ideal-observer's ``generate`` (the region it reads comes from the question's own words),
which answers in a sentence ("The color is red.") that colorbench's parser must read back.
Requests that share a question are answered as one batch.
"""

from __future__ import annotations

import numpy as np
import torch
from lmms_eval.api.model import lmms
from lmms_eval.models.registry_v2 import ModelManifest

from colorbench.palette import DEFAULT_PALETTE
from colorbench.plugins.reference import IdealObserver

MANIFEST = ModelManifest(
    model_id="colorbench_ideal_observer",
    simple_class_path="colorbench_lmms_ideal.IdealObserverLMM",
)


class IdealObserverLMM(lmms):
    is_simple = True

    def __init__(self, **kwargs) -> None:
        super().__init__()
        self.observer = IdealObserver("ideal-observer", palette=DEFAULT_PALETTE)

    def generate_until(self, requests) -> list[str]:
        by_question: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            by_question.setdefault(request.args[0], []).append(i)
        answers: list[str] = [""] * len(requests)
        for question, positions in by_question.items():
            images = []
            for i in positions:
                _, _, doc_to_visual, doc_id, task, split = requests[i].args
                image = doc_to_visual(self.task_dict[task][split][doc_id])[0].convert("RGB")
                images.append(torch.from_numpy(np.asarray(image)).permute(2, 0, 1))
            texts = self.observer.generate(torch.stack(images), question, max_new_tokens=16)
            for i, text in zip(positions, texts, strict=True):
                answers[i] = text
        return answers

    def loglikelihood(self, requests):
        raise NotImplementedError("colorbench exports ask for generate_until only")

    def generate_until_multi_round(self, requests):
        return self.generate_until(requests)
