"""Likelihood from a server's prompt log-probabilities (vLLM's ``prompt_logprobs``).

A chat completion API scores no answer, but vLLM returns log p of every *prompt* token given
those before it (``prompt_logprobs``), and lets the last message be an assistant turn left open
(``continue_final_message``). So each answer is one request: the user turn (image, question),
then an assistant turn holding the answer as it starts a reply (``Red``, as ``hf-vlm`` scores
it), rendered by the server with the model's own chat template and left open; the answer's
log-likelihood is the sum of its tokens' prompt log-probabilities.

**Which prompt tokens are the answer's** is decided as ``hf-vlm`` decides it, on the server's
own token ids (no tokenizer is needed on the client, which may not have the model's files): one
more request per image and question asks the user turn alone with the generation prompt (the
prompt ``hf-vlm`` continues); an answer's tokens are those after the longest prefix that prompt
shares with every answer's prompt, so a BPE merge across the boundary is scored as the model
sees it. Token ids come from the response's ``prompt_token_ids`` (vLLM returns them with
``return_token_ids``), else from each position's entry, whose first key vLLM makes the prompt
token. The answer is the assistant turn as the template renders it: the same text as ``hf-vlm``
wherever the template's assistant turn begins where its generation prompt ends (Qwen-VL,
Gemma 3, InternVL, LLaVA-OneVision, Llama 3.2 Vision, llava-1.5's ``ASSISTANT: ``).

The response format is vLLM's (``vllm/entrypoints/openai/chat_completion/protocol.py``:
``ChatCompletionResponse.prompt_logprobs: list[dict[int, Logprob] | None]``; ``vllm/logprobs.py``:
``Logprob(logprob, rank, decoded_token)``, the first position ``None``, each later one the prompt
token first, then the top ``prompt_logprobs`` tokens; ``-inf`` sent as ``-9999.0``). Each
request is a full prefill: vLLM skips its prefix cache for a request with ``prompt_logprobs``
(``vllm/v1/core/kv_cache_manager.py``, ``get_computed_blocks``). Only the
last :data:`TAIL` positions of a prompt are kept in the response store (:func:`compact`): the
answer lies there, and a whole image prompt's log-probabilities would make the store hundreds of
megabytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: prompt positions kept per response: the answer's tokens and the boundary before them
TAIL = 64
#: where :func:`compact` puts the kept positions in a stored response
KEPT = "colorbench_prompt_tail"


def prompt_body(name: str, user: dict[str, Any], seed: int) -> dict[str, Any]:
    """The request for the prompt alone: the user turn and the generation prompt."""
    return {
        "model": name,
        "messages": [user],
        "temperature": 0,
        "max_tokens": 1,
        "seed": seed,
        "prompt_logprobs": 1,
        "return_token_ids": True,
    }


def answer_body(name: str, user: dict[str, Any], answer: str, seed: int) -> dict[str, Any]:
    """The request that scores ``answer``: the user turn, then the answer as an open
    assistant turn (vLLM: ``continue_final_message`` without a generation prompt)."""
    return {
        **prompt_body(name, user, seed),
        "messages": [user, {"role": "assistant", "content": answer}],
        "add_generation_prompt": False,
        "continue_final_message": True,
    }


@dataclass(frozen=True)
class PromptTail:
    """The last prompt tokens of one request: their ids and log p given those before."""

    #: how many tokens the whole prompt has
    length: int
    ids: tuple[int, ...]
    logprobs: tuple[float | None, ...]

    @property
    def start(self) -> int:
        """The prompt position of ``ids[0]``."""
        return self.length - len(self.ids)

    def id_at(self, position: int) -> int:
        return self.ids[position - self.start]


class NoPromptLogprobs(ValueError):
    """A response without usable prompt log-probabilities (the server ignored the request)."""


def compact(response: dict[str, Any]) -> dict[str, Any]:
    """``response`` with its prompt log-probabilities cut to the last :data:`TAIL` positions
    (ids and log p), in place; raises :class:`NoPromptLogprobs` when it has none."""
    if KEPT in response:
        return response
    positions = response.get("prompt_logprobs")
    if not isinstance(positions, list) or len(positions) < 2:
        raise NoPromptLogprobs("its answer has no prompt_logprobs")
    given = response.get("prompt_token_ids")
    ids = given if isinstance(given, list) and len(given) == len(positions) else None
    keep_ids, keep_logprobs = [], []
    for position in range(max(0, len(positions) - TAIL), len(positions)):
        entry = positions[position]
        if entry is None:  # the first prompt token: nothing before it to predict it
            keep_ids.append(int(ids[position]) if ids else -1)
            keep_logprobs.append(None)
            continue
        if not isinstance(entry, dict) or not entry:
            raise NoPromptLogprobs(f"prompt_logprobs[{position}] is {entry!r}")
        token = str(ids[position]) if ids else next(iter(entry))
        found = entry.get(token)
        if not isinstance(found, dict) or not isinstance(found.get("logprob"), int | float):
            raise NoPromptLogprobs(f"prompt_logprobs[{position}] has no log p of token {token}")
        keep_ids.append(int(token))
        keep_logprobs.append(float(found["logprob"]))
    response.pop("prompt_logprobs")
    response.pop("prompt_token_ids", None)
    response[KEPT] = {"length": len(positions), "ids": keep_ids, "logprobs": keep_logprobs}
    return response


def tail_of(response: dict[str, Any]) -> PromptTail:
    """The kept prompt positions of a response (fresh or stored)."""
    kept = compact(response)[KEPT]
    return PromptTail(int(kept["length"]), tuple(kept["ids"]), tuple(kept["logprobs"]))


class Unscorable(ValueError):
    """The answers' tokens cannot be told apart from the prompt's (one line to the user)."""


def answer_scores(prompt: PromptTail, answers: list[PromptTail]) -> list[tuple[float, int]]:
    """Per answer, its summed log-likelihood and token count, by ``hf-vlm``'s rule: the
    answer's tokens follow the prefix ``prompt`` shares with every answer's prompt."""
    common = min(_shared(prompt, answer) for answer in answers)
    scores = []
    for answer in answers:
        if common < max(1, answer.start) or common >= answer.length:
            raise Unscorable(
                f"the answers' tokens cannot be found after the prompt in its last {TAIL} "
                "tokens (the prompts differ before them, or an answer adds no token)"
            )
        logprobs = answer.logprobs[common - answer.start :]
        scores.append((float(sum(logprobs)), answer.length - common))  # type: ignore[arg-type]
    return scores


def _shared(prompt: PromptTail, answer: PromptTail) -> int:
    """How many leading tokens ``prompt`` and ``answer`` share, from their kept tails: the
    positions before both tails are the same user turn, which the first position both keep
    must confirm (else -1: the boundary is out of view)."""
    start = max(prompt.start, answer.start)
    end = min(prompt.length, answer.length)
    if start >= end or prompt.id_at(start) != answer.id_at(start):
        return -1
    shared = start
    while shared < end and prompt.id_at(shared) == answer.id_at(shared):
        shared += 1
    return shared
