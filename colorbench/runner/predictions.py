"""The predictions table: one row per image x prompt, as stored in ``predictions.parquet``.

Columns, in order: :data:`CORE_COLUMNS` (the answer columns come from
:class:`~colorbench.runner.scoring.Answers`), then every stimulus attribute; the task's
:meth:`~colorbench.plugin.task.Task.grade` adds ``outcome`` and ``correct`` when the chunks are
read back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from colorbench.palette import Palette
from colorbench.plugin.task import GRADE_COLUMNS, Task
from colorbench.runner.answers import TRUNCATED, UNPARSED
from colorbench.runner.scoring import MISSING, Answers
from colorbench.stimuli.base import Sample

#: the sample's identity and the row's task and prompt
KEY_COLUMNS = ("sample_id", "set", "combination", "sample", "task", "prompt")
#: columns the engine writes; stimulus attributes with these names are not copied over them
CORE_COLUMNS = (*KEY_COLUMNS, *(f.name for f in fields(Answers) if f.name != "scores"))
#: prefix of the per-candidate score columns (``score_red``...), written with ``keep_scores``
SCORE_PREFIX = "score_"
#: names a stimulus attribute cannot have: the engine's and the grader's columns
RESERVED_ATTRIBUTES = (*CORE_COLUMNS, *GRADE_COLUMNS)


def reserved_attribute(name: str) -> bool:
    """Whether a stimulus attribute called ``name`` would collide with a predictions column."""
    return name in RESERVED_ATTRIBUTES or name.startswith(SCORE_PREFIX)


def chunk_table(
    samples: Sequence[Sample],
    tasks: Sequence[Task],
    answers: Sequence[Answers],
    palette: Palette,
) -> pa.Table:
    """Rows of one chunk: per task, one row per image x prompt (image-major), then attributes.

    ``answers`` holds one :class:`Answers` per prompt of ``tasks``, in order.
    """
    n = len(samples)
    base = pd.DataFrame(
        {
            "sample_id": [s.sample_id for s in samples],
            "set": [s.set for s in samples],
            "combination": np.array([s.combination for s in samples], dtype=np.int64),
            "sample": np.array([s.sample for s in samples], dtype=np.int64),
        }
    )
    attrs = pd.DataFrame([s.attrs for s in samples], index=range(n))
    attrs = attrs.drop(columns=[c for c in attrs.columns if c in CORE_COLUMNS])
    # the last names are what TRUNCATED_INDEX (-3), MISSING_INDEX (-2) and UNPARSED_INDEX
    # (-1) pick: a free answer cut by the token limit, an answer that never came, and a
    # free answer naming no single colour
    names = np.array([*palette.names, TRUNCATED, MISSING, UNPARSED], dtype=object)
    frames, offset = [], 0
    for task in tasks:
        ids = [p.id for p in task.prompts]
        per_task = answers[offset : offset + len(ids)]
        offset += len(ids)
        rows = np.repeat(np.arange(n), len(ids))
        frame = base.iloc[rows].reset_index(drop=True)
        frame["task"] = task.name
        frame["prompt"] = np.tile(np.array(ids, dtype=object), n)
        for field in fields(Answers):
            if getattr(per_task[0], field.name) is None:  # K scores not kept; no free text
                continue
            # image-major: [n, prompts(, K)] flattened row by row
            stacked = np.stack([getattr(a, field.name) for a in per_task], axis=1)
            values = stacked.reshape(n * len(ids), *stacked.shape[2:])
            if field.name == "scores":
                for k, name in enumerate(palette.names):
                    frame[f"{SCORE_PREFIX}{name}"] = values[:, k]
            else:
                frame[field.name] = names[values] if field.name == "answer" else values
        frames.append(pd.concat([frame, attrs.iloc[rows].reset_index(drop=True)], axis=1))
    return pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)


def without_missing(table: pa.Table) -> pa.Table:
    """The rows of ``table`` that hold an answer (``--allow-missing`` stores only those)."""
    return table.filter(pc.not_equal(table["answer"], MISSING))
