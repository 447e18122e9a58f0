"""Reference adapters whose answers are known by construction.

They see exactly what a VLM sees, the uint8 image batch and the K candidate texts
(statements) or the question and the K colour terms (questions), and nothing else (no
stimulus metadata). They answer both forms, by similarity, likelihood or generation, so
their known answers test the harness's statement and question paths alike. They are
rows on the leaderboard that bracket real models and, in tests, prove the harness end
to end:

- ``ideal-observer`` perceives colour perfectly and does what the prompt asks: a
  prompt that mentions the background gets the background colour (the colour that
  touches the image border most); object / font / "written in" / text prompts get the
  foreground (the most frequent non-background colour); any other prompt, such as
  the bare ``{c}``, gets the majority colour. It never reads the written word.
- ``pixel-majority`` always names the most frequent colour.
- ``chance`` answers uniformly at random; the answer is a hash of (image bytes, text,
  seed), not a draw from a sequential random stream, so chunked, resumed and
  distributed runs give identical predictions.

Perception is exact on the flat-coloured stimuli: a region's colour is its most
frequent exact RGB value (anti-aliased edge pixels are spread over many blends and
never win), and the answer is the candidate whose palette colour is nearest to it in
CIELAB (CIE76 Delta E, the Euclidean distance;
:func:`colorbench.colors.delta_e_to_palette`). A palette colour is at distance 0
from itself; an off-palette colour gets its nearest prototype.
CIE76 and CIEDE2000 agree equally often with the human names of the XKCD survey
(55.6% and 55.0% of the 558 basic-term colours), so the simpler one is used.
"""

from __future__ import annotations

import hashlib
import os
import re
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

import colorbench
from colorbench.colors import delta_e_to_palette
from colorbench.errors import ColorbenchError
from colorbench.palette import DEFAULT_PALETTE, Palette
from colorbench.plugin.adapter import AnswerLogLikelihoods, GenerativeAdapter

#: words that make a prompt ask for the foreground part (the object or the text)
FOREGROUND_WORDS = ("object", "font", "written", "text", "word", "letter", "shape")
_PACK_SHIFT = 24  # an RGB triple packs into 24 bits; the batch index sits above them


# ---------------------------------------------------------------------------- candidates
@dataclass(frozen=True)
class Candidates:
    """What the K candidate texts say: the palette colour each names, and the template."""

    colors: tuple[str, ...]
    #: the shared text around the colour name, with ``{c}`` where the name goes
    template: str

    @property
    def region(self) -> str:
        """The region the template asks about: ``background``, ``foreground`` or ``majority``.

        A question is read up to its last question mark: what follows ("Answer with one
        word.") says how to answer, not what is asked.
        """
        asked = self.template.rpartition("?")[0] or self.template
        words = set(re.findall(r"[a-z]+", asked.lower()))
        if "background" in words:
            return "background"
        if words & set(FOREGROUND_WORDS):
            return "foreground"
        return "majority"


def parse_candidates(texts: Sequence[str], palette: Palette) -> Candidates:
    """Find the colour name in each candidate text: the part that varies across the texts.

    The shared prefix and suffix are cut back to word boundaries (``"green"`` and
    ``"grey"`` share ``"gre"``, which is not template). A single text is matched
    against the palette names as whole words.
    """
    texts = list(texts)
    if not texts:
        raise ColorbenchError("no candidate texts given; a prompt needs one text per colour")
    if len(texts) == 1:
        for name in palette.names:
            match = re.search(rf"\b{re.escape(name)}\b", texts[0])
            if match:
                return Candidates(
                    (name,), texts[0][: match.start()] + "{c}" + texts[0][match.end() :]
                )
        raise ColorbenchError(
            f"candidate text {texts[0]!r} names no colour of palette {palette.name!r}; "
            "build the texts from the palette given to the adapter"
        )
    prefix = _word_boundary_prefix(texts)
    suffix = _word_boundary_prefix([t[len(prefix) :][::-1] for t in texts])[::-1]
    names = tuple(t[len(prefix) : len(t) - len(suffix)].strip() for t in texts)
    unknown = [n for n in names if n not in palette]
    if unknown:
        raise ColorbenchError(
            f"candidate texts name colours {unknown} that palette {palette.name!r} lacks; "
            "pass the palette the prompts were built from (--palette)"
        )
    return Candidates(names, prefix + "{c}" + suffix)


def _word_boundary_prefix(texts: Sequence[str]) -> str:
    """The longest common prefix of ``texts``, cut back so that it does not end inside a word."""
    return re.sub(r"\w+$", "", os.path.commonprefix(list(texts)))


# ---------------------------------------------------------------------------- perception
def unpack_rgb(codes: torch.Tensor) -> np.ndarray:
    """Colour codes ``r << 16 | g << 8 | b`` ``[M]`` -> ``[M,3]`` uint8 RGB."""
    c = codes.cpu().numpy()
    return np.stack([c >> 16 & 255, c >> 8 & 255, c & 255], axis=1).astype(np.uint8)


@dataclass(frozen=True)
class ColorCounts:
    """Pixel count of every exact colour of every image of a batch.

    ``keys`` are sorted ``image << 24 | r << 16 | g << 8 | b``; ``counts`` their pixels.
    """

    keys: torch.Tensor
    counts: torch.Tensor
    batch: int

    @classmethod
    def of(cls, pixels: torch.Tensor) -> ColorCounts:
        """Count the colours of ``pixels`` ``[B,3,N]`` uint8.

        Flat stimuli are long runs of one colour, so pixels are first run-length coded
        (one cheap comparison pass) and only the runs are sorted: exact, and far
        cheaper than sorting every pixel.
        """
        batch, _, size = pixels.shape
        start = torch.zeros(batch, size, dtype=torch.bool, device=pixels.device)
        start[:, 0] = True
        for channel in pixels.unbind(dim=1):  # per channel: 2-3x faster than .any(dim=1)
            start[:, 1:] |= channel[:, 1:] != channel[:, :-1]
        image, position = start.nonzero(as_tuple=True)
        rgb = pixels[image, :, position].to(torch.int64)
        keys = image << _PACK_SHIFT | rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2]
        offsets = image * size + position
        end = torch.tensor([batch * size], device=pixels.device)
        lengths = torch.diff(offsets, append=end)
        keys, inverse = torch.unique(keys, return_inverse=True)
        counts = torch.zeros_like(keys).scatter_add_(0, inverse, lengths)
        return cls(keys, counts, batch)

    def mode(self, exclude: torch.Tensor | None = None) -> torch.Tensor:
        """The most frequent colour code of each image ``[B]``, ties to the smallest code.

        Colours equal to ``exclude[b]`` do not count; an image with nothing left gets -1.
        """
        keys, counts = self.keys, self.counts
        row = keys >> _PACK_SHIFT
        code = keys & ((1 << _PACK_SHIFT) - 1)
        if exclude is not None:
            kept = code != exclude[row]
            keys, counts, row, code = keys[kept], counts[kept], row[kept], code[kept]
        best = torch.zeros(self.batch, dtype=counts.dtype, device=counts.device)
        best = best.scatter_reduce(0, row, counts, "amax")
        winners = counts == best[row]
        first = torch.full_like(best, torch.iinfo(torch.int64).max)
        first = first.scatter_reduce(0, row[winners], code[winners], "amin")
        return torch.where(best > 0, first, -1)


def region_colors(images: torch.Tensor, region: str) -> torch.Tensor:
    """The exact colour code ``[B]`` of ``region`` (background/foreground/majority).

    background: the most frequent colour on the image border; foreground: the most
    frequent other colour (the background's if there is none); majority: the most
    frequent colour.
    """
    if region == "majority":
        return ColorCounts.of(images.flatten(2)).mode()
    border = torch.cat(
        [images[..., 0, :], images[..., -1, :], images[..., 1:-1, 0], images[..., 1:-1, -1]],
        dim=2,
    )
    background = ColorCounts.of(border).mode()
    if region == "background":
        return background
    foreground = ColorCounts.of(images.flatten(2)).mode(exclude=background)
    return torch.where(foreground >= 0, foreground, background)


# ---------------------------------------------------------------------------- adapters
class ReferenceAdapter(GenerativeAdapter):
    """Base of the reference adapters: palette, device, seed and parsed candidates.

    A reference answers statements (``score``, its default) and questions
    (``loglikelihood`` / ``generate``) with the same rule, :meth:`rank`: for a question
    the candidates are the colour terms and the question text names the region asked.
    """

    kind = "reference"
    scorings = ("similarity", "likelihood", "generate")

    def __init__(
        self,
        model_id: str,
        palette: Palette = DEFAULT_PALETTE,
        device: torch.device | str = "cpu",
        seed: int = 0,
    ) -> None:
        self.model_id = model_id
        self.palette = palette
        self.device = torch.device(device)
        self.seed = int(seed)
        self._candidates: dict[tuple[str, ...], Candidates] = {}

    @classmethod
    def create(cls, model_id: str, **options) -> ReferenceAdapter:
        """Factory for the model registry; ignores options a reference does not use, but
        refuses ``--weights``: a reference has none, and silently ignoring a checkpoint the
        user named would store a result that looks like it came from those weights."""
        if options.get("weights") is not None:
            raise ColorbenchError(
                f"{model_id} is a reference model with no weights; drop --weights "
                f"{options['weights']} (or pick the model those weights belong to)"
            )
        known = {k: options[k] for k in ("palette", "device", "seed") if options.get(k) is not None}
        return cls(model_id, **known)

    def candidates(self, texts: Sequence[str]) -> Candidates:
        key = tuple(texts)
        if key not in self._candidates:
            self._candidates[key] = parse_candidates(key, self.palette)
        return self._candidates[key]

    @abstractmethod
    def rank(
        self, images: torch.Tensor, texts: Sequence[str], candidates: Candidates
    ) -> torch.Tensor:
        """``[B,K]`` scores of the K candidates (higher is the answer)."""

    def score(self, images: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        return self.rank(images, texts, self.candidates(texts))

    def _answers(self, images: torch.Tensor, question: str, answers: Sequence[str]) -> torch.Tensor:
        unknown = [a for a in answers if a not in self.palette]
        if unknown:
            raise ColorbenchError(
                f"answers {unknown} are not colours of palette {self.palette.name!r}; "
                "pass the palette the prompts were built from (--palette)"
            )
        texts = [f"{question}\x00{a}" for a in answers]
        return self.rank(images, texts, Candidates(tuple(answers), question)).double()

    def loglikelihood(
        self, images: torch.Tensor, question: str, answers: Sequence[str]
    ) -> AnswerLogLikelihoods:
        """The scores as a distribution over the answers (one "token" each). A reference
        speaks the palette's own names: another accepted spelling of one (``gray``) gets
        probability 0 (log-probability -1e30: scores must be finite), so pooling spellings
        changes none of its answers."""
        spelled = {w for n in self.palette.names for w in self.palette.spellings(n)[1:]}
        own = [a in self.palette or a not in spelled for a in answers]
        scores = torch.full((len(images), len(answers)), -1e30, dtype=torch.float64)
        picked = [a for a, keep in zip(answers, own, strict=True) if keep]
        scores[:, torch.tensor(own)] = self._answers(images, question, picked).cpu()
        logp = torch.log_softmax(scores, dim=1).to(images.device)
        return AnswerLogLikelihoods(logp, torch.ones(len(answers), dtype=torch.long))

    def generate(self, images: torch.Tensor, question: str, max_new_tokens: int) -> list[str]:
        """The best answer in a sentence, as a chatty VLM writes it."""
        best = self._answers(images, question, list(self.palette.names)).argmax(dim=1)
        return [f"The color is {self.palette.names[i]}." for i in best.tolist()]

    def provenance(self) -> dict:
        return {"weights_sha256": "none", "reference": type(self).__name__}


class PerceivingAdapter(ReferenceAdapter):
    """Scores a candidate by minus its palette colour's CIE76 distance to a region."""

    @abstractmethod
    def region(self, candidates: Candidates) -> str:
        """Which region's colour this adapter answers with for these candidates."""

    def rank(
        self, images: torch.Tensor, texts: Sequence[str], candidates: Candidates
    ) -> torch.Tensor:
        codes = region_colors(images, self.region(candidates))
        unique, inverse = torch.unique(codes, return_inverse=True)
        distance = delta_e_to_palette(unpack_rgb(unique), self.palette)
        columns = [self.palette.index(name) for name in candidates.colors]
        scores = -torch.as_tensor(distance[:, columns], dtype=torch.float32)
        return scores.to(images.device)[inverse]


class IdealObserver(PerceivingAdapter):
    """Perfect perception, does what the prompt asks, cannot read."""

    def region(self, candidates: Candidates) -> str:
        return candidates.region


class PixelMajority(PerceivingAdapter):
    """Names the colour with the most pixels, whatever the prompt."""

    def region(self, candidates: Candidates) -> str:
        return "majority"


#: the image hash is two linear forms over the bytes, each modulo this Mersenne prime
_PRIME = (1 << 31) - 1
#: columns per exact float64 product: 2^8 * 2^24 * 2^21 = 2^53
_EXACT_COLUMNS = 1 << 21


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser (Steele, Lea & Flood 2014): a bijective 64-bit mixer
    whose every output bit depends on every input bit. ``uint64`` in, ``uint64`` out."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


class Chance(ReferenceAdapter):
    """Uniform random answers that are a pure function of (image bytes, text, seed).

    Each image is hashed on its device by two random linear forms over its bytes
    modulo a prime (exact integer arithmetic: the same on CPU and GPU and in any batch
    split); the 62-bit image hash XOR a 64-bit key of (seed, text) goes through
    SplitMix64, whose output is the candidate's score.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._weights: dict[tuple[int, str], torch.Tensor] = {}

    @classmethod
    def create(cls, model_id: str, **options) -> ReferenceAdapter:
        """``chance`` answers with the run's seed; ``chance-N`` with its own answer seed N
        on the run's stimuli, a second guesser on identical images (``colorbench compare``)."""
        adapter = super().create(model_id, **options)
        suffix = model_id.removeprefix("chance-")
        if suffix != model_id:
            if not suffix.isdigit():
                raise ColorbenchError(
                    f"model {model_id!r}: chance-N takes a whole-number answer seed, e.g. chance-7"
                )
            adapter.seed = int(suffix)
        return adapter

    def image_hash(self, images: torch.Tensor) -> np.ndarray:
        """``[B,3,H,W]`` uint8 -> ``[B]`` uint64 (62 bits).

        A float64 matrix product is exact here (bytes < 2^8 times weights < 2^24
        summed over at most 2^21 elements stays below 2^53) and is the fastest exact
        integer dot product torch offers on CPU and GPU.
        """
        flat = images.reshape(images.shape[0], -1)
        key = (flat.shape[1], str(flat.device))
        if key not in self._weights:
            generator = torch.Generator().manual_seed(20240602)
            weights = torch.randint(1, 1 << 24, (flat.shape[1], 2), generator=generator)
            self._weights[key] = weights.to(flat.device, torch.float64)
        weights = self._weights[key]
        total = torch.zeros(flat.shape[0], 2, dtype=torch.int64, device=flat.device)
        for columns, w in zip(
            flat.split(_EXACT_COLUMNS, 1), weights.split(_EXACT_COLUMNS), strict=True
        ):
            total = (total + (columns.to(torch.float64) @ w).to(torch.int64)) % _PRIME
        total = total.cpu().numpy().astype(np.uint64)
        return total[:, 0] << np.uint64(31) | total[:, 1]

    def text_keys(self, texts: Sequence[str]) -> np.ndarray:
        """``[K]`` uint64: a key per candidate text, from the text and the seed."""
        digests = (hashlib.sha256(f"{self.seed}\x00{t}".encode()).digest() for t in texts)
        return np.array([int.from_bytes(d[:8], "little") for d in digests], dtype=np.uint64)

    def rank(
        self, images: torch.Tensor, texts: Sequence[str], candidates: Candidates
    ) -> torch.Tensor:
        mixed = splitmix64(self.image_hash(images)[:, None] ^ self.text_keys(texts)[None, :])
        uniform = (mixed >> np.uint64(11)).astype(np.float64) * 2.0**-53  # [0, 1)
        return torch.from_numpy(uniform).to(images.device)


REFERENCE_ADAPTERS: dict[str, tuple[Callable[..., ReferenceAdapter], str]] = {
    "ideal-observer": (
        IdealObserver.create,
        "reference: perfect colour perception, follows the prompt, cannot read",
    ),
    "pixel-majority": (PixelMajority.create, "reference: always names the most frequent colour"),
    "chance": (Chance.create, "reference: uniform random answer, seeded, reproducible"),
    "chance-*": (Chance.create, "reference: chance with its own answer seed N (chance-N)"),
}


@colorbench.hookimpl
def colorbench_register_models(register: Callable[..., None]) -> None:
    for model_id, (factory, description) in REFERENCE_ADAPTERS.items():
        register(model_id, factory, description=description)
