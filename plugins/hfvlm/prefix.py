"""One image prefix per image, continued by every question asked of it.

prompt-choice asks five questions of every Stroop card and part-attribution two; where the
rendered chat template puts the image before the question (LLaVA, Qwen-VL, SmolVLM, Gemma 3,
InternVL...), the tokens up to and including the image are the same for every question, so
their KV cache is computed once per image and continued by each question and its answers,
as vLLM's automatic prefix caching does.

Where that holds is read from the rendered prompts themselves, not from a family list:
:func:`image_head` is the token prefix common to the prompts of every question (and a probe
question, so the head never reaches into a question), accepted only if it holds every image
token. The split is made on the processor's own token ids, so a template that puts text the
tokenizer could merge across the boundary (Gemma 3's ``\\n\\n`` after the image) splits
where the ids already diverge, never inside a token.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

#: a question no task asks: the image prefix must end before any question's text begins
PROBE = "?"


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading ids ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def image_head(prompts: Sequence[Sequence[int]], image_token: int | None) -> int | None:
    """Length of the token prefix all ``prompts`` share, if it holds all their image tokens
    (the image comes before the question); ``None`` where it does not."""
    if image_token is None or len(prompts) < 2:
        return None
    head = min(common_prefix(prompts[0], p) for p in prompts[1:])
    first = list(prompts[0])
    if image_token not in first or image_token in first[head:]:
        return None
    return head


def rope_kwargs(positions: torch.Tensor, mrope: bool) -> dict[str, torch.Tensor]:
    """``position_ids`` for ``[N, S]`` text positions: as they are, or the same on M-RoPE's
    three axes (text after the image advances time, height and width together)."""
    if mrope:
        return {"position_ids": positions.unsqueeze(0).expand(3, -1, -1)}
    return {"position_ids": positions}
