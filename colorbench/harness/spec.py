"""What an exported row is: one stimulus image asked one of the task's questions.

Exporters write one row per (stimulus, prompt), in the engine's order (flat stimulus index,
then the task's prompts in order), and stamp every row with the :class:`ExportSpec` that
made it. The harness carries those fields through to its per-sample output, so an import
knows the task, the stimulus grid (samples per combination, seed) and the palette without
trusting anything else in the file.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from colorbench.config import DEFAULT_QUESTION_FORMS
from colorbench.errors import ColorbenchError
from colorbench.palette import Palette
from colorbench.plugin.task import Prompt, Task
from colorbench.stimuli.base import Sample, StimulusSet

#: images rendered per batch while exporting
BATCH = 64


@dataclass(frozen=True)
class ExportSpec:
    """The export a row belongs to: task, samples per combination, seed, palette fingerprint."""

    task: str
    samples: int
    seed: int
    palette: str

    #: the column / key names every exported row carries
    FIELDS = ("colorbench_task", "samples", "seed", "palette")

    def fields(self) -> dict[str, Any]:
        return dict(
            zip(self.FIELDS, (self.task, self.samples, self.seed, self.palette), strict=True)
        )

    @classmethod
    def from_fields(cls, row: dict[str, Any]) -> ExportSpec:
        """Read the four fields back; ``ValueError`` names the first one missing or malformed."""
        missing = [f for f in cls.FIELDS if f not in row]
        if missing:
            raise ValueError(f"no {missing[0]!r} field")
        task, samples, seed, palette = (row[f] for f in cls.FIELDS)
        if not isinstance(task, str) or not isinstance(palette, str):
            raise ValueError("colorbench_task and palette must be strings")
        try:
            samples, seed = _whole(samples), _whole(seed)
        except (TypeError, ValueError):
            raise ValueError("samples and seed must be whole numbers") from None
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        return cls(task, samples, seed, palette)


def _whole(value: Any) -> int:
    """An int from a JSON int or a spreadsheet float such as ``3.0``; rejects 3.5 and bools."""
    if isinstance(value, bool) or float(value) != int(float(value)):
        raise ValueError(value)
    return int(float(value))


@dataclass(frozen=True)
class Item:
    """One exported row before it is written in a harness's format."""

    sample: Sample
    prompt: Prompt
    question: str
    #: the palette colour the prompt asks for on this image; "" for a prompt that asks none
    target: str
    #: the stimulus condition, the combination's factors: ``"word=red, font=blue, ..."``
    condition: str
    image: np.ndarray

    def png(self) -> bytes:
        """The image as PNG bytes: lossless, so a harness sees exactly the rendered pixels."""
        buffer = io.BytesIO()
        Image.fromarray(self.image).save(buffer, format="PNG")
        return buffer.getvalue()


def items(
    task: Task, stim: StimulusSet, samples: int, questions: dict[str, str]
) -> Iterator[list[Item]]:
    """Every (stimulus, prompt) row of ``task`` in the engine's order, a batch at a time.

    ``questions`` maps each prompt id to the question asked for it.
    """
    total = stim.size(samples)
    for start in range(0, total, BATCH):
        batch = stim.render(stim.samples(start, min(start + BATCH, total), samples))
        pixels = batch.images.permute(0, 2, 3, 1).numpy()
        yield [
            Item(
                s,
                p,
                questions[p.id],
                str(s.attrs[p.asks]) if p.asks else "",
                ", ".join(f"{k}={v}" for k, v in stim.combination(s.combination).items()),
                image,
            )
            for s, image in zip(batch.samples, pixels, strict=True)
            for p in task.prompts
        ]


def harness_name(task: str) -> str:
    """A task's name inside a harness (lmms-eval task, VLMEvalKit dataset): identifier-like,
    since both use it in file and metric names: ``stroop-white`` -> ``colorbench_stroop_white``.
    """
    return "colorbench_" + task.replace("-", "_")


def questions(task: Task, palette: Palette) -> dict[str, str]:
    """The question each of the task's prompts asks a generative model, by prompt id: the
    form ``colorbench run --scoring generate`` uses (the palette's terms offered,
    :func:`colorbench.plugin.task.ask`), since a harness lets the model generate."""
    missing = [p.id for p in task.prompts if not p.question]
    if missing:
        raise ColorbenchError(
            f"task {task.name!r} has no question form for prompt(s) {', '.join(missing)}; "
            "a harness asks generative models, so the task must give Prompt(question=...)"
        )
    return {p.id: p.asked(palette, DEFAULT_QUESTION_FORMS["generate"]) for p in task.prompts}
