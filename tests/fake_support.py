"""A tiny plugin whose answers are known by construction, for the engine's tests.

Registered through the real hooks (``load_plugins(["fake_support"])`` with ``tests/`` on
``sys.path``):

- stimulus sets ``fake-squares`` (an 8x8 background with a 2-3 px square of another
  palette colour; 110 combinations) and ``fake-flat`` (one flat colour; 11 combinations);
- tasks ``fake-global`` (``{c}``) and ``fake-part`` (object / background prompts) on
  fake-squares, ``fake-flat`` (``{c}``) on fake-flat;
- adapters ``fake-majority`` (contrastive: the embedding is the palette-colour histogram,
  so it always names the majority colour, the background) and ``fake-minority`` (plain
  ``score``: names the least frequent colour present, the object).

``COLORBENCH_FAKE_DELAY`` (seconds) slows each image batch so tests can interrupt a run
mid-way. Run as a script it calls ``evaluate`` (for subprocess and torchrun tests).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

import colorbench
from colorbench.config import RunConfig
from colorbench.palette import Palette
from colorbench.plugin.adapter import ContrastiveAdapter, ModelAdapter
from colorbench.plugin.task import Headline, Prompt, Task, TaskSummary
from colorbench.stimuli.base import Batch, Sample, StimulusSet

torch.set_num_threads(1)  # the test machine's cores are shared

SIZE = 8
#: calls seen by the adapters: ("images", batch size) and ("texts", texts)
CALLS: list[tuple[str, Any]] = []


class FakeSquares(StimulusSet):
    name = "fake-squares"
    parts = ("background", "object")
    image_size = SIZE

    def _pairs(self) -> list[tuple[str, str]]:
        names = self.palette.names
        return [(b, o) for b in names for o in names if b != o]

    def num_combinations(self) -> int:
        return len(self._pairs())

    def combination(self, index: int) -> dict[str, Any]:
        background, obj = self._pairs()[index]
        return {"background": background, "object": obj}

    def sample(self, combination: int, sample: int) -> Sample:
        rng = self.rng(combination, sample)
        side = int(rng.integers(2, 4))
        y, x = (int(v) for v in rng.integers(0, SIZE - side + 1, size=2))
        attrs = {**self.combination(combination), "side": side, "y": y, "x": x}
        return Sample(self.name, combination, sample, attrs)

    def render(self, samples: Sequence[Sample], backend: str = "pil", device: Any = None) -> Batch:
        images = np.empty((len(samples), 3, SIZE, SIZE), dtype=np.uint8)
        masks = np.zeros((len(samples), SIZE, SIZE), dtype=np.uint8)
        for i, s in enumerate(samples):
            a = s.attrs
            images[i] = np.array(self.palette[a["background"]].rgb, dtype=np.uint8)[:, None, None]
            window = (slice(a["y"], a["y"] + a["side"]), slice(a["x"], a["x"] + a["side"]))
            images[i][(slice(None), *window)] = np.array(self.palette[a["object"]].rgb)[
                :, None, None
            ]
            masks[i][window] = 1
        return Batch(list(samples), torch.from_numpy(images), torch.from_numpy(masks))


class FakeFlat(FakeSquares):
    name = "fake-flat"
    parts = ("background",)

    def num_combinations(self) -> int:
        return len(self.palette)

    def combination(self, index: int) -> dict[str, Any]:
        return {"background": self.palette.names[index]}

    def sample(self, combination: int, sample: int) -> Sample:
        return Sample(self.name, combination, sample, self.combination(combination))

    def render(self, samples: Sequence[Sample], backend: str = "pil", device: Any = None) -> Batch:
        rgb = np.array([self.palette[s.attrs["background"]].rgb for s in samples], dtype=np.uint8)
        images = np.broadcast_to(rgb[:, :, None, None], (len(samples), 3, SIZE, SIZE)).copy()
        masks = torch.zeros((len(samples), SIZE, SIZE), dtype=torch.uint8)
        return Batch(list(samples), torch.from_numpy(images), masks)


class FakeTask(Task):
    """Outcome shares per prompt; headline = % of rows whose outcome is ``headline_part``."""

    headline_part = "background"

    def summarize(self, predictions: pd.DataFrame, palette: Palette) -> TaskSummary:
        shares = pd.crosstab(predictions["prompt"], predictions["outcome"], normalize="index")
        hit = predictions["outcome"] == self.headline_part
        value = 100.0 * float(hit.mean())
        headline = Headline(f"{self.headline_part} %", value, len(predictions), value, value)
        return TaskSummary(self.name, headline, {"outcomes": 100.0 * shares})


class FakeGlobal(FakeTask):
    name = "fake-global"
    stimulus_set = "fake-squares"
    prompts = (Prompt("bare", "{c}"),)
    outcome_parts = ("background", "object")


class FakePart(FakeTask):
    name = "fake-part"
    stimulus_set = "fake-squares"
    prompts = (
        Prompt("object", "The color of the object is {c}", asks="object"),
        Prompt("background", "The color of the background is {c}", asks="background"),
    )
    outcome_parts = ("background", "object")

    def figure(self, summary: TaskSummary, path: Path) -> Path:
        Image.new("RGB", (4, 4), (255, 0, 0)).save(path)
        return path


class FakeFlatTask(FakeTask):
    name = "fake-flat"
    stimulus_set = "fake-flat"
    prompts = (Prompt("bare", "{c}"),)
    outcome_parts = ("background",)


def _histogram(images: torch.Tensor, palette: Palette) -> torch.Tensor:
    """``[B,K]`` share of each image's pixels that have each palette colour."""
    rgb = torch.as_tensor(palette.rgb_array(), dtype=torch.int16)
    pixels = images.to(torch.int16).permute(0, 2, 3, 1).reshape(len(images), -1, 1, 3)
    return (pixels == rgb).all(-1).float().mean(1)


class _Fake:
    def __init__(self, model_id: str, **options: Any) -> None:
        self.model_id = model_id
        self.palette: Palette = options["palette"]
        self.device = torch.device("cpu")
        self.weights = options.get("weights")
        self.delay = float(os.environ.get("COLORBENCH_FAKE_DELAY", "0"))

    def provenance(self) -> dict:
        if self.weights is None:
            return {"weights_sha256": "random"}
        return {"weights_sha256": hashlib.sha256(Path(self.weights).read_bytes()).hexdigest()}

    def _seen(self, images: torch.Tensor) -> None:
        CALLS.append(("images", len(images)))
        time.sleep(self.delay)


class MajorityAdapter(_Fake, ContrastiveAdapter):
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        self._seen(images)
        return torch.nn.functional.normalize(_histogram(images, self.palette), dim=1)

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        CALLS.append(("texts", list(texts)))
        named = [self.palette.index(t.split()[-1]) for t in texts]
        return torch.nn.functional.one_hot(torch.tensor(named), len(self.palette)).float()


class MinorityAdapter(_Fake, ModelAdapter):
    def score(self, images: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        self._seen(images)
        shares = _histogram(images, self.palette)
        rarity = torch.where(shares > 0, 2.0 - shares, torch.zeros_like(shares))
        return rarity[:, [self.palette.index(t.split()[-1]) for t in texts]]


@colorbench.hookimpl
def colorbench_register_stimulus_sets(register):
    register("fake-squares", FakeSquares)
    register("fake-flat", FakeFlat)


@colorbench.hookimpl
def colorbench_register_tasks(register):
    for task in (FakeGlobal(), FakePart(), FakeFlatTask()):
        register(task)


@colorbench.hookimpl
def colorbench_register_models(register):
    register("fake-majority", MajorityAdapter, description="names the majority colour")
    register("fake-minority", MinorityAdapter, description="names the rarest colour")


def config(out: Path, **options: Any) -> RunConfig:
    """A quiet run of fake-majority on the fake-squares tasks, with ``options`` overriding."""
    defaults = {"models": ["fake-majority"], "tasks": ["fake-global", "fake-part"], "quiet": True}
    return RunConfig(out=out, **{**defaults, **options})


def main(argv: list[str] | None = None) -> int:
    """``python tests/fake_support.py --out DIR [--samples N] [--task T] [--no-resume] ...``"""
    from colorbench.api import evaluate
    from colorbench.errors import ColorbenchError
    from colorbench.plugin.pluginmanager import load_plugins

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--task", action="append", default=None)
    parser.add_argument("--model", action="append", default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-resume", dest="resume", action="store_false")
    args = parser.parse_args(argv)
    run = config(
        args.out,
        models=args.model or ["fake-majority"],
        tasks=args.task or ["all"],
        samples=args.samples,
        batch_size=args.batch_size,
        seed=args.seed,
        resume=args.resume,
    )
    try:
        evaluate(run, load_plugins(["fake_support"], entrypoints=False))
    except ColorbenchError as exc:
        print(f"colorbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
