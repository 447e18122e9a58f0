"""What one ``colorbench run`` is asked to do; shared by the CLI, the Python API and the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from colorbench.palette import DEFAULT_PALETTE, Palette

#: ``--precision`` values; ``auto`` is resolved by ``colorbench.runner.device.resolve_precision``
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
#: ``--renderer`` values; ``auto`` is resolved by :func:`colorbench.runner.device.resolve_renderer`
RENDERERS = ("auto", "pil", "torch")
#: how a model's answer is obtained: statement similarity (contrastive), answer
#: likelihood or free generation (generative); the mode is recorded in provenance
SCORINGS = ("similarity", "likelihood", "generate")
#: how likelihood scores of multi-token answers are normalised: summed log-probability
#: (favours short answers) or mean log-probability per answer token
NORMALIZATIONS = ("sum", "mean")
#: how a question is put: naming the palette's terms ("Answer with one of: black, white, ...",
#: the 11-way forced choice CLIP makes) or asking for one word; recorded in provenance
QUESTION_FORMS = ("choices", "open")
#: the form each question mode gets unless ``--question-form`` says otherwise: generation
#: is offered the terms (else ``navy`` or ``crimson`` count as wrong), likelihood already
#: scores only the terms
DEFAULT_QUESTION_FORMS = {"likelihood": "open", "generate": "choices"}
#: new tokens a generative model may write by default: a sentence such as "The word 'RED' is
#: written in blue font." fits, so verbose answers are read instead of cut
MAX_NEW_TOKENS = 32
#: the units a paired comparison can cluster rows by: ``image`` (the estimand is this set of
#: images; rows asking about one image are paired) or ``combination`` (rows of one factor
#: combination share its palette colours, shape and font: the estimand generalises over them)
CLUSTER_UNITS = ("image", "combination")


@dataclass
class RunConfig:
    """Options of ``colorbench run``, validated by the engine before any work starts.

    ``samples`` is the number of samples per stimulus combination (the paper uses 500).
    ``tasks`` may contain ``"all"``. ``batch_size=None`` sizes batches automatically.
    ``scoring`` (``likelihood`` / ``generate``) is how generative models answer; ``None``
    is each model's own default (likelihood for generative models, similarity for
    contrastive ones, statements for the references). ``normalization`` (``sum`` /
    ``mean``) applies to likelihood scores; ``score_end`` also scores the end-of-answer token
    after each term. ``question_form`` (``choices`` / ``open``, :data:`QUESTION_FORMS`) is how
    questions are put (``None``: :data:`DEFAULT_QUESTION_FORMS`); ``max_new_tokens`` bounds a
    generated answer (one that reaches it is ``truncated``).
    ``keep_scores`` stores every candidate's score per row (``score_<colour>`` columns).
    ``allow_missing`` stores a result although some answers are missing (a served model's
    endpoint kept failing); the count is recorded and they are left out of n.
    ``target_ci`` (percentage points) replaces ``samples``: each stimulus set gets the
    samples its tasks need for that 95% half-width (:mod:`colorbench.runner.sizing`);
    ``stop_early`` then adds them one round at a time and stops once an anytime-valid
    confidence sequence is that tight (:mod:`colorbench.report.sequential`).
    ``model_options`` go to every model factory as keyword options (the served plugin's
    ``endpoints``, ``max_in_flight``, ``api_key_env``...); factories ignore what they do not take.
    """

    models: list[str]
    tasks: list[str]
    samples: int = 1
    device: str = "auto"
    batch_size: int | None = None
    weights: Path | None = None
    out: Path = Path("results")
    seed: int = 0
    precision: str = "auto"
    palette: Palette = DEFAULT_PALETTE
    renderer: str = "auto"
    resume: bool = True
    quiet: bool = False
    keep_scores: bool = False
    plugins: list[str] = field(default_factory=list)
    scoring: str | None = None
    normalization: str = "sum"
    score_end: bool = False
    question_form: str | None = None
    max_new_tokens: int = MAX_NEW_TOKENS
    allow_missing: bool = False
    model_options: dict[str, Any] = field(default_factory=dict)
    target_ci: float | None = None
    stop_early: bool = False
