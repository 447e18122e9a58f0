"""An lmms-eval model that answers as colorbench's ideal-observer does (test support).

It is registered with lmms-eval the way a third-party package would be, through the
``lmms_eval.models`` entry-point group (``MANIFEST``), and sees only what any lmms-eval
model sees: the document's images and the question text. The ideal observer is asked with
the question as its template, so the region it reads (background / foreground / majority)
comes from the question's own words, and it answers in a sentence-like form ("Red.") that
colorbench's answer parser must read back.
"""

from __future__ import annotations

import numpy as np
import torch
from colorbench.palette import DEFAULT_PALETTE
from colorbench.plugins.reference import IdealObserver
from lmms_eval.api.model import lmms
from lmms_eval.models.registry_v2 import ModelManifest

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
        names = DEFAULT_PALETTE.names
        answers = []
        for request in requests:
            context, _, doc_to_visual, doc_id, task, split = request.args
            image = doc_to_visual(self.task_dict[task][split][doc_id])[0].convert("RGB")
            pixels = torch.from_numpy(np.asarray(image)).permute(2, 0, 1)[None]
            scores = self.observer.score(pixels, [f"{context} {name}" for name in names])
            answers.append(f"{names[int(scores.argmax())].capitalize()}.")
        return answers

    def loglikelihood(self, requests):
        raise NotImplementedError("colorbench exports ask for generate_until only")

    def generate_until_multi_round(self, requests):
        return self.generate_until(requests)
