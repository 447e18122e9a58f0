"""Every continuation of one cached prefix as one packed row with a tree attention mask.

After the image prefix (or a whole prompt) is in the KV cache, what remains to score is
each question's rest and, after it, each of the K answers. Repeating the cache per
question and per answer and padding the answers (what ``hf-vlm`` did before) makes the
model pay for B*Q*K copies of the prefix's keys, for padding, and for the output head over
the whole vocabulary at every answer position. Here, as in tree attention for speculative
decoding, they are laid out once per image: every question's rest, then the answers'
tokens as a trie (answers sharing leading tokens share them), each token attending to the
cached prefix, its own question's rest and its ancestors in the trie, at the position it
would have in a full pass. One forward pass per batch of images scores every question and
answer, and the output head runs only where a next token is scored.

Nothing here calls a model: :func:`pack` is the layout, :func:`attention_bias` the mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

#: the prefix pass's last logit, where a question has no rest (the prompt was all cached)
PREFIX_END = -1


@dataclass(frozen=True)
class Packed:
    """The continuations of one prefix, laid out as one row of ``len(ids)`` tokens."""

    #: the packed tokens: each question's rest, then its answers' trie nodes
    ids: tuple[int, ...]
    #: each token's distance from the end of the prefix (its position is prefix end + depth)
    depth: tuple[int, ...]
    #: each token's predecessor in its sequence (:data:`PREFIX_END`: the prefix's last token)
    parent: tuple[int, ...]
    #: the packed tokens whose logits are needed, in order (:data:`PREFIX_END` possibly first)
    keep: tuple[int, ...]
    #: per question, per answer: ``(index into keep, token)`` for every token of the answer
    scored: tuple[tuple[tuple[tuple[int, int], ...], ...], ...]

    def visible(self) -> torch.Tensor:
        """``[N, N]`` bool: packed token i attends packed token j (j is i or its ancestor)."""
        n = len(self.ids)
        seen = torch.zeros(n, n, dtype=torch.bool)
        for i, parent in enumerate(self.parent):
            seen[i, i] = True
            if parent != PREFIX_END:  # parents come first, so their rows are complete
                seen[i] |= seen[parent]
        return seen


def pack(rests: Sequence[Sequence[int]], answers: Sequence[Sequence[Sequence[int]]]) -> Packed:
    """Lay out question q's ``rests[q]`` (possibly empty) and its answers ``answers[q]`` (token
    ids, each non-empty). An answer's last token is never fed: nothing after it is scored."""
    ids: list[int] = []
    depth: list[int] = []
    parent: list[int] = []

    def add(token: int, at: int, after: int) -> int:
        ids.append(token)
        depth.append(at)
        parent.append(after)
        return len(ids) - 1

    predictors: list[list[list[tuple[int, int]]]] = []
    for rest, per_question in zip(rests, answers, strict=True):
        last = PREFIX_END
        for offset, token in enumerate(rest):
            last = add(token, offset, last)
        nodes: dict[tuple[int, ...], int] = {}  # an answer prefix -> its trie node
        pairs = []
        for answer in per_question:
            at = last
            steps = [(at, answer[0])]
            for d in range(1, len(answer)):
                key = tuple(answer[:d])
                if key not in nodes:
                    nodes[key] = add(answer[d - 1], len(rest) + d - 1, at)
                at = nodes[key]
                steps.append((at, answer[d]))
            pairs.append(steps)
        predictors.append(pairs)
    keep = sorted({p for pairs in predictors for steps in pairs for p, _ in steps})
    where = {p: i for i, p in enumerate(keep)}
    scored = tuple(
        tuple(tuple((where[p], token) for p, token in steps) for steps in pairs)
        for pairs in predictors
    )
    return Packed(tuple(ids), tuple(depth), tuple(parent), tuple(keep), scored)


def attention_bias(
    packed: Packed, cached: int, dtype: torch.dtype, window: int | None = None
) -> torch.Tensor:
    """``[1, 1, N, cached + N]`` additive mask (0 attends, the dtype's minimum does not): every
    packed token sees the ``cached`` prefix tokens and its ancestors. With a sliding
    ``window``, a token at full-pass index i sees index j only if ``i - j < window``, as in
    the full pass (a packed token's full-pass index is ``cached + depth``)."""
    seen = torch.cat(
        [torch.ones(len(packed.ids), cached, dtype=torch.bool), packed.visible()], dim=1
    )
    if window is not None:
        query = cached + torch.tensor(packed.depth)
        key = torch.cat([torch.arange(cached), query])
        seen &= query[:, None] - key[None, :] < window
    bias = torch.zeros(seen.shape, dtype=dtype)
    return bias.masked_fill(~seen, torch.finfo(dtype).min)[None, None]
