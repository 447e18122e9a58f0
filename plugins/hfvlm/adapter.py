"""A transformers image-text-to-text model as a colorbench :class:`GenerativeAdapter`.

The model sees what a user of the checkpoint sees: the image and the question in one
user turn of the checkpoint's own chat template, followed by the generation prompt.

**Likelihood** of the K answers with one prefix pass (the pitfalls of VLM-NOTES.md):

1. The answer follows the generation prompt as the model would write it: capitalised
   (it starts the reply) and after a space only where the template ends without
   whitespace (``ASSISTANT:`` -> ``" Red"``; Qwen's ``assistant\\n`` -> ``"Red"``).
2. Prompt + answer is tokenised in full and the answer's tokens are those after the
   prefix shared by all K tokenisations, so a BPE merge across the boundary is scored
   as the model would see it; prompt tokens the merge swallowed are left to the answers.
3. BOS is added by the tokenizer only when the rendered template does not begin with it.
4. One forward pass over [image + prompt] fills the KV cache; the cache is repeated K
   times per image and one pass over the right-padded answers scores them all. Right
   padding after a causal prefix changes no real token's logits.
5. M-RoPE families (Qwen2-VL / Qwen2.5-VL) get explicit answer positions: the prefix's
   last position + 1 onwards, from the model's ``rope_deltas``, not the prefix length.
6. PaliGemma's prefix attends bidirectionally (``token_type_ids`` 0) and its answers
   causally (1), in the full pass as in the cached one.

:meth:`HFVLMAdapter.loglikelihood_naive` computes the same scores with one full forward
pass per answer; tests hold the two within 1e-4 for every family, and bench/bench_vlm.py
measures the speed-up.

**Generate**: greedy decoding of a few tokens from the same prompt; the harness maps
the text to a colour term (:mod:`colorbench.runner.answers`).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import torch

from colorbench.errors import ColorbenchError
from colorbench.plugin.adapter import AnswerLogLikelihoods, GeneratedText, GenerativeAdapter
from colorbench.plugins.hfvlm.families import Family
from colorbench.plugins.hfvlm.prefix import PROBE, common_prefix, image_head, padded, rope_kwargs


@dataclass(frozen=True)
class PromptForm:
    """How one question is put to the model."""

    #: the text given to the processor (with the template's image placeholder)
    text: str
    #: the text whose tokens end the prefix (``text``, or what PaliGemma's processor builds)
    tail: str
    #: whether the tokenizer adds special tokens (BOS) itself
    add_special_tokens: bool
    #: put between the generation prompt and the answer
    separator: str


@dataclass(frozen=True)
class AnswerTokens:
    """The K answers as token ids after the shared prefix."""

    #: prompt tokens at the end of the prefix that some answer's tokenisation merged away
    drop: int
    ids: tuple[tuple[int, ...], ...]


class HFVLMAdapter(GenerativeAdapter):
    """Any supported family behind ``AutoModelForImageTextToText`` + ``AutoProcessor``."""

    def __init__(
        self,
        model_id: str,
        model: torch.nn.Module,
        processor: Any,
        family: Family,
        device: torch.device,
        dtype: torch.dtype,
        provenance: dict[str, Any],
    ) -> None:
        self.model_id = model_id
        self.family = family
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.device = torch.device(device)
        self.dtype = dtype
        self.model = model.to(device=self.device, dtype=dtype).eval()
        self._provenance = provenance
        if family.chat_template and not getattr(processor, "chat_template", None):
            raise ColorbenchError(
                f"{model_id}: the processor has no chat template, so the question cannot be "
                "put as the model expects; use a chat (instruct) checkpoint or add "
                "chat_template.jinja to its folder"
            )
        self.prompt_form = lru_cache(maxsize=64)(self._prompt_form)
        self.answer_tokens = lru_cache(maxsize=64)(self._answer_tokens)
        self.prompt_ids = lru_cache(maxsize=256)(self._prompt_ids)
        self.nested_images = family.nested_images
        self._check_template()
        config = model.config
        self.image_token_id = getattr(config, "image_token_id", None)
        if self.image_token_id is None:
            self.image_token_id = getattr(config, "image_token_index", None)
        text = config.get_text_config()
        #: sliding-window layers count distance in cache slots, so continuations of one
        #: image prefix must not hold padding between question and answer
        self.sliding = (
            bool(getattr(text, "sliding_window", None))
            and getattr(text, "use_sliding_window", True) is not False
        )

    def _check_template(self) -> None:
        """Render the chat template once, so that one the Jinja sandbox refuses (it reaches
        for Python internals: SecurityError) or stops (a range or string beyond its limits:
        OverflowError) is one line at start-up, not a traceback in the first batch."""
        from jinja2 import TemplateError

        try:
            self.prompt_form(PROBE)
        except (TemplateError, OverflowError) as exc:
            why = " ".join(str(exc).split())[:160]
            raise ColorbenchError(
                f"{self.model_id}: the chat template was refused by transformers' Jinja sandbox "
                f"({type(exc).__name__}: {why}); nothing in it ran - use the checkpoint's "
                "original chat_template.jinja"
            ) from None

    def provenance(self) -> dict[str, Any]:
        return {
            **self._provenance,
            "architecture": self.family.name,
            "answer_form": "capitalised, after the generation prompt",
        }

    @cached_property
    def answer_end(self) -> str:
        """The token the template puts right after an answer (``<|im_end|>``), where that is
        a special token; else the tokenizer's EOS (PaliGemma, templates ending in a space)."""
        if self.family.chat_template:
            turn = [{"type": "text", "text": "\x00"}]
            messages = [
                {"role": "user", "content": [{"type": "text", "text": "?"}]},
                {"role": "assistant", "content": turn},
            ]
            rendered = self.processor.apply_chat_template(messages, tokenize=False)
            after = rendered.partition("\x00")[2]
            ids = self.tokenizer(after, add_special_tokens=False)["input_ids"]
            first = self.tokenizer.convert_ids_to_tokens(ids[:1])
            if first and first[0] in self.tokenizer.get_added_vocab():
                return first[0]
        return self.tokenizer.eos_token

    # ----------------------------------------------------------------- prompt and answers
    def _prompt_form(self, question: str) -> PromptForm:
        if self.family.chat_template:
            messages = [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}
            ]
            text = self.processor.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
            tail = text
        else:  # PaliGemma: "<image>" x n, BOS, the question and a newline
            text = self.processor.image_token + question
            tail = question + "\n"
        bos = self.tokenizer.bos_token
        add_special = not (bos and tail.startswith(bos)) and self.family.chat_template
        separator = "" if not tail or tail[-1].isspace() else " "
        return PromptForm(text, tail, add_special, separator)

    def _answer_tokens(self, question: str, answers: tuple[str, ...]) -> AnswerTokens:
        """Tokenise prompt + each answer in full; cut after the prefix common to all."""
        form = self.prompt_form(question)
        encode = self.tokenizer
        prompt = encode(form.tail, add_special_tokens=False)["input_ids"]
        full = [
            encode(form.tail + form.separator + surface(a), add_special_tokens=False)["input_ids"]
            for a in answers
        ]
        common = min(common_prefix(prompt, ids) for ids in full)
        ids = tuple(tuple(f[common:]) for f in full)
        empty = [a for a, i in zip(answers, ids, strict=True) if not i]
        if empty or common == 0:
            raise ColorbenchError(
                f"{self.model_id}: answers {empty or list(answers)} do not tokenise after the "
                "prompt; the tokenizer does not fit this chat template"
            )
        return AnswerTokens(len(prompt) - common, ids)

    def inputs(self, images: torch.Tensor, question: str) -> dict[str, torch.Tensor]:
        """The processor's model inputs for ``images`` with ``question`` (on the device)."""
        form = self.prompt_form(question)
        pictures = list(images.cpu())
        if self.nested_images:
            pictures = [[p] for p in pictures]
        try:
            batch = self.processor(
                text=[form.text] * len(pictures),
                images=pictures,
                return_tensors="pt",
                add_special_tokens=form.add_special_tokens,
            )
        except ValueError:
            if not self.family.generic or self.nested_images:
                raise
            self.nested_images = True  # an unknown processor wanting one list per sample
            return self.inputs(images, question)
        batch.pop("labels", None)
        return {
            k: v.to(self.device, self.dtype if v.is_floating_point() else None)
            for k, v in batch.items()
        }

    # ----------------------------------------------------------------- likelihood
    def loglikelihood(
        self, images: torch.Tensor, question: str, answers: Sequence[str]
    ) -> AnswerLogLikelihoods:
        if self.family.generic:
            return self.loglikelihood_naive(images, question, answers)
        tokens = self.answer_tokens(question, tuple(answers))
        inputs = self.inputs(images, question)
        if not bool(inputs["attention_mask"].all()):  # prompts of different lengths
            if len(images) > 1:
                parts = [self.loglikelihood(image[None], question, answers) for image in images]
                return AnswerLogLikelihoods(torch.cat([p.total for p in parts]), parts[0].tokens)
        prefix = _cut(inputs, tokens.drop)
        k = len(tokens.ids)
        with torch.inference_mode():
            out = self.model(**prefix, use_cache=True, logits_to_keep=1)
            cache = out.past_key_values
            cache.batch_repeat_interleave(k)
            answer_ids, mask = padded(tokens.ids, self.device)
            batch, length = prefix["input_ids"].shape
            ids = answer_ids.repeat(batch, 1)  # row b*K + k
            kwargs: dict[str, Any] = {
                "attention_mask": torch.ones(
                    batch * k, length + ids.shape[1], dtype=torch.long, device=self.device
                )
            }
            if self.family.mrope:
                kwargs["position_ids"] = self._answer_positions(prefix, ids.shape[1], k)
            for key in self.family.carried:
                kwargs[key] = _carry(prefix[key], ids.shape[1], k)
            later = self.model(input_ids=ids, past_key_values=cache, use_cache=True, **kwargs)
            first = out.logits[:, -1:].repeat_interleave(k, dim=0)
            logits = torch.cat([first, later.logits[:, :-1]], dim=1)
            total = _token_logprobs(logits, ids, mask.repeat(batch, 1)).view(batch, k)
        return AnswerLogLikelihoods(total, mask.sum(dim=1).cpu())

    def _rope_deltas(self, prefix: dict[str, torch.Tensor]) -> torch.Tensor:
        """``[B, 1]``: text position minus token index after the image (M-RoPE packs an
        image's tokens into fewer positions; 0 elsewhere)."""
        if not self.family.mrope:
            return torch.zeros(
                prefix["input_ids"].shape[0], 1, dtype=torch.long, device=self.device
            )
        rope_inputs = {
            key: prefix[key]
            for key in ("mm_token_type_ids", "image_grid_thw", "attention_mask")
            if key in prefix
        }
        _, deltas = self.model.model.get_rope_index(prefix["input_ids"], **rope_inputs)
        return deltas.to(self.device).view(-1, 1)

    def _answer_positions(self, prefix: dict[str, torch.Tensor], steps: int, k: int):
        """M-RoPE positions ``[3, B*K, steps]`` of the answer tokens after the prefix."""
        start = prefix["input_ids"].shape[1] + self._rope_deltas(prefix)
        positions = start + torch.arange(steps, device=self.device)
        return positions.repeat_interleave(k, dim=0).unsqueeze(0).expand(3, -1, -1)

    # ----------------------------------------------------------------- one image prefix
    def _prompt_ids(self, question: str, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The processor's token ids of ``question`` put with one image of ``shape``."""
        blank = torch.zeros((1, *shape), dtype=torch.uint8)
        return tuple(self.inputs(blank, question)["input_ids"][0].tolist())

    def loglikelihood_prompts(
        self, images: torch.Tensor, questions: Sequence[str], answers: Sequence[str]
    ) -> list[AnswerLogLikelihoods]:
        """Every question's answer log-likelihoods, with one image prefix per image where the
        template puts the image first (:mod:`colorbench.plugins.hfvlm.prefix`), else one
        prefix pass per question."""
        shared = self._continued(images, questions, answers)
        if shared is not None:
            return shared
        return [self.loglikelihood(images, q, answers) for q in questions]

    def _continued(
        self, images: torch.Tensor, questions: Sequence[str], answers: Sequence[str]
    ) -> list[AnswerLogLikelihoods] | None:
        """The scores from one [template head + image] pass per image, or ``None`` where the
        image does not come first (or the prompts cannot be split there)."""
        if self.family.bidirectional_prefix or self.family.generic:  # the image attends to
            return None  # the question, or nothing is known of the architecture's positions
        shape = tuple(images.shape[1:])
        prompts = [self.prompt_ids(q, shape) for q in questions]
        head = image_head([*prompts, self.prompt_ids(PROBE, shape)], self.image_token_id)
        if head is None:
            return None
        tokens = [self.answer_tokens(q, tuple(answers)) for q in questions]
        rests = [p[head : len(p) - t.drop] for p, t in zip(prompts, tokens, strict=True)]
        if not all(rests):
            return None
        inputs = self.inputs(images, questions[0])
        expected = torch.tensor(prompts[0][:head], device=self.device)
        if not bool(inputs["attention_mask"].all()) or not bool(
            (inputs["input_ids"][:, :head] == expected).all()
        ):
            return None
        prefix = _cut(inputs, inputs["input_ids"].shape[1] - head)
        return self._continue(prefix, rests, [t.ids for t in tokens])

    def _continue(
        self,
        prefix: dict[str, torch.Tensor],
        rests: Sequence[Sequence[int]],
        answer_ids: Sequence[Sequence[Sequence[int]]],
    ) -> list[AnswerLogLikelihoods]:
        """One pass over the image prefix, then every question's rest and answers from its
        cache (:meth:`_answers_after`): all questions together, or, with sliding-window
        layers, one group per rest length (no padding between question and answer)."""
        with torch.inference_mode():
            cache = self.model(**prefix, use_cache=True, logits_to_keep=1).past_key_values
            start = prefix["input_ids"].shape[1] + self._rope_deltas(prefix)
            carried = {key: prefix[key][:, -1:] for key in self.family.carried}
            groups = [list(range(len(rests)))]
            if self.sliding:
                lengths = [len(r) for r in rests]
                groups = [
                    [i for i, n in enumerate(lengths) if n == m] for m in dict.fromkeys(lengths)
                ]
            scores: dict[int, AnswerLogLikelihoods] = {}
            for number, group in enumerate(groups):
                own = cache if number == len(groups) - 1 else copy.deepcopy(cache)
                scored = self._answers_after(
                    own, start, carried, [rests[i] for i in group], [answer_ids[i] for i in group]
                )
                scores.update(zip(group, scored, strict=True))
        return [scores[i] for i in range(len(rests))]

    def _answers_after(
        self,
        cache: Any,
        start: torch.Tensor,
        carried: dict[str, torch.Tensor],
        rests: Sequence[Sequence[int]],
        answer_ids: Sequence[Sequence[Sequence[int]]],
    ) -> list[AnswerLogLikelihoods]:
        """The answers' log-likelihoods after the image prefix in ``cache`` (``B`` rows;
        ``start`` ``[B, 1]`` is the position after it): one pass over every question's rest
        (the cache repeated per question), one over every question's answers (repeated per
        answer). Rows: image b, question q, answer k at ``(b * Q + q) * K + k``. Rests are
        padded on the left and masked, so each ends where its answers begin and one logit
        per row is computed; positions are given explicitly, so a rest starts right after
        the image prefix (plus the M-RoPE offset) whatever padding precedes it.
        """
        batch, q_count, k = start.shape[0], len(rests), len(answer_ids[0])
        device = self.device
        head = cache.get_seq_length()
        start = start.repeat_interleave(q_count, dim=0)
        cache.batch_repeat_interleave(q_count)
        rest_ids, rest_mask = padded(rests, device, left=True)  # every rest ends last
        rest_ids, rest_mask = rest_ids.repeat(batch, 1), rest_mask.repeat(batch, 1)
        ends = rest_mask.sum(dim=1, keepdim=True)  # [B*Q, 1]
        ones = torch.ones(batch * q_count, head, dtype=torch.long, device=device)
        seen = torch.cat([ones, rest_mask.long()], dim=1)
        steps = torch.arange(rest_ids.shape[1], device=device) - rest_ids.shape[1] + ends
        middle = self.model(
            input_ids=rest_ids,
            past_key_values=cache,
            attention_mask=seen,
            use_cache=True,
            logits_to_keep=1,
            **rope_kwargs(start + steps.clamp(min=0), self.family.mrope),
            **{key: _carry(v, rest_ids.shape[1], q_count) for key, v in carried.items()},
        )
        first = middle.logits[:, -1:].repeat_interleave(k, dim=0)
        ids, mask = padded([a for per_question in answer_ids for a in per_question], device)
        ids, mask = ids.repeat(batch, 1), mask.repeat(batch, 1)  # [B*Q*K, S]
        logits = first
        if ids.shape[1] > 1:  # the answers' tokens but the last predict their next ones
            cache = middle.past_key_values
            cache.batch_repeat_interleave(k)
            feed = ids[:, :-1]
            steps = torch.arange(feed.shape[1], device=device)
            positions = (start + ends).repeat_interleave(k, dim=0) + steps
            later = self.model(
                input_ids=feed,
                past_key_values=cache,
                attention_mask=torch.cat(
                    [seen.repeat_interleave(k, dim=0), torch.ones_like(feed)], 1
                ),
                use_cache=False,
                **rope_kwargs(positions, self.family.mrope),
                **{key: _carry(v, feed.shape[1], q_count * k) for key, v in carried.items()},
            )
            logits = torch.cat([first, later.logits], dim=1)
        total = _token_logprobs(logits, ids, mask).view(batch, q_count, k)
        lengths = mask[: q_count * k].sum(dim=1).view(q_count, k).cpu()
        return [AnswerLogLikelihoods(total[:, q], lengths[q]) for q in range(q_count)]

    def loglikelihood_naive(
        self, images: torch.Tensor, question: str, answers: Sequence[str]
    ) -> AnswerLogLikelihoods:
        """The same scores with one full forward pass per answer (the reference)."""
        tokens = self.answer_tokens(question, tuple(answers))
        prefix = _cut(self.inputs(images, question), tokens.drop)
        batch = prefix["input_ids"].shape[0]
        columns = []
        with torch.inference_mode():
            for answer in tokens.ids:
                ids = torch.tensor(answer, device=self.device).expand(batch, -1)
                full = _extend(prefix, ids, self.family.answer_token_type)
                # the logits that predict the answer: from the prefix's last token on
                logits = self.model(**full, logits_to_keep=len(answer) + 1).logits[:, :-1]
                ones = torch.ones_like(ids, dtype=torch.bool)
                columns.append(_token_logprobs(logits, ids, ones))
        lengths = torch.tensor([len(a) for a in tokens.ids])
        return AnswerLogLikelihoods(torch.stack(columns, dim=1), lengths)

    # ----------------------------------------------------------------- generation
    def generate(
        self, images: torch.Tensor, question: str, max_new_tokens: int
    ) -> list[GeneratedText]:
        inputs = self.inputs(images, question)
        with torch.inference_mode():
            out = self.model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                num_beams=1,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            )
        new = out[:, inputs["input_ids"].shape[1] :]
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        stops = self.model.generation_config.eos_token_id
        stops = {*(stops if isinstance(stops, list) else [stops]), self.tokenizer.eos_token_id}
        stop_ids = torch.tensor(sorted(s for s in stops if s is not None), device=new.device)
        ended = torch.isin(new, stop_ids).any(dim=1)
        cut = (~ended.cpu()) & (new.shape[1] >= max_new_tokens)
        return [GeneratedText(t, bool(c)) for t, c in zip(texts, cut, strict=True)]


def surface(answer: str) -> str:
    """The answer as it starts a reply: ``red`` -> ``Red``."""
    return answer[:1].upper() + answer[1:]


def _cut(inputs: dict[str, torch.Tensor], drop: int) -> dict[str, torch.Tensor]:
    """The inputs without their last ``drop`` prompt tokens (every per-token tensor)."""
    if drop == 0:
        return inputs
    shape = inputs["input_ids"].shape
    return {k: v[:, :-drop] if v.shape[:2] == shape else v for k, v in inputs.items()}


def _extend(
    inputs: dict[str, torch.Tensor], ids: torch.Tensor, token_type: int
) -> dict[str, torch.Tensor]:
    """The inputs followed by answer tokens ``ids`` ``[B, S]`` (every per-token tensor)."""
    shape = inputs["input_ids"].shape
    fill = {"attention_mask": 1, "token_type_ids": token_type, "mm_token_type_ids": 0}
    out = {}
    for key, value in inputs.items():
        if value.shape[:2] != shape:
            out[key] = value
        elif key == "input_ids":
            out[key] = torch.cat([value, ids], dim=1)
        elif key in fill:
            out[key] = torch.cat([value, torch.full_like(ids, fill[key])], dim=1)
        else:  # what later tokens continue (mllama's cross-attention mask): the last token's
            out[key] = torch.cat([value, _carry(value, ids.shape[1])], dim=1)
    return out


def _carry(value: torch.Tensor, steps: int, rows: int = 1) -> torch.Tensor:
    """``value``'s last token's entry for ``steps`` more tokens, each row ``rows`` times."""
    last = value[:, -1:].repeat_interleave(rows, dim=0)
    return last.expand(-1, steps, *last.shape[2:])


def _token_logprobs(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Summed log p of ``ids`` under ``logits`` (same positions), real tokens only: ``[N]``."""
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)
    return (logp * mask).sum(dim=-1)


def quiet_transformers() -> None:
    """No progress bars or advice from transformers while colorbench draws its own."""
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
