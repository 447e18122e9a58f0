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
4. One forward pass over [image + prompt] fills the KV cache; one more pass over the K
   answers packed as one row per image, a trie under a tree attention mask
   (:mod:`colorbench.plugins.hfvlm.tree`), scores them all: no copy of the cache, no
   padding, and the output head only where an answer's next token is scored.
5. M-RoPE families (Qwen2-VL / Qwen2.5-VL) get explicit answer positions: the prefix's
   last position + 1 onwards, from the model's ``rope_deltas``, not the prefix length.
6. PaliGemma's prefix attends bidirectionally (``token_type_ids`` 0) and its answers
   causally (1), in the full pass as in the cached one.
7. Sliding-window layers (Gemma 3, Mistral) get the window in the packed mask, counted
   in full-pass token indices.

:meth:`HFVLMAdapter.loglikelihood_naive` computes the same scores with one full forward
pass per answer; tests hold the two within 1e-4 for every family, and bench/bench_vlm.py
measures the speed-up.

**Generate**: greedy decoding of a few tokens from the same prompt; the harness maps
the text to a colour term (:mod:`colorbench.runner.answers`).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import torch

from colorbench.errors import ColorbenchError
from colorbench.plugin.adapter import AnswerLogLikelihoods, GeneratedText, GenerativeAdapter
from colorbench.plugins.hfvlm.families import Family
from colorbench.plugins.hfvlm.prefix import PROBE, common_prefix, image_head, rope_kwargs
from colorbench.plugins.hfvlm.tree import PREFIX_END, Packed, attention_bias, pack


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
        #: sliding-window layers see only the last ``window`` tokens of a full pass, so the
        #: packed continuations' mask is windowed too: for the layers of type
        #: ``sliding_attention`` where the config lists types (Gemma 3), else for all (Mistral)
        self.window: int | None = getattr(text, "sliding_window", None)
        self.sliding = bool(self.window) and getattr(text, "use_sliding_window", True) is not False
        self.layer_types: tuple[str, ...] = tuple(
            dict.fromkeys(getattr(text, "layer_types", None) or ())
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
        return self._loglikelihood(images, question, answers, None)

    def _loglikelihood(
        self,
        images: torch.Tensor,
        question: str,
        answers: Sequence[str],
        encoded: dict[str, Any] | None,
    ) -> AnswerLogLikelihoods:
        """:meth:`loglikelihood`, reusing the vision encoder's outputs for ``images`` kept in
        ``encoded`` by an earlier question (``None``: nothing to keep or reuse)."""
        if self.family.generic:
            return self.loglikelihood_naive(images, question, answers)
        tokens = self.answer_tokens(question, tuple(answers))
        inputs = self.inputs(images, question)
        if not bool(inputs["attention_mask"].all()):  # prompts of different lengths
            if len(images) > 1:
                parts = [self.loglikelihood(image[None], question, answers) for image in images]
                return AnswerLogLikelihoods(torch.cat([p.total for p in parts]), parts[0].tokens)
        return self._continue(_cut(inputs, tokens.drop), [()], [tokens.ids], encoded)[0]

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
        prefix pass per question, the images encoded once where the model takes encoded
        images (transformers' ``mm_encoder_outputs``)."""
        shared = self._continued(images, questions, answers)
        if shared is not None:
            return shared
        encoded: dict[str, Any] | None = {} if self.takes_encoded_images else None
        return [self._loglikelihood(images, q, answers, encoded) for q in questions]

    @cached_property
    def takes_encoded_images(self) -> bool:
        """Whether the model's forward accepts the vision encoder's outputs in place of the
        pixels (``mm_encoder_outputs``, transformers 5) and returns them (``image_outputs``)."""
        return "mm_encoder_outputs" in inspect.signature(self.model.forward).parameters

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
        encoded: dict[str, Any] | None = None,
    ) -> list[AnswerLogLikelihoods]:
        """Question q's answers ``answer_ids[q]`` after ``prefix`` + ``rests[q]``: one pass over
        the prefix (its KV cache), then one over every question's rest and answers packed as
        one row per image (:mod:`colorbench.plugins.hfvlm.tree`), the output head only where
        an answer's next token is scored. An empty rest: the prefix ends where the answers
        begin (the whole prompt was cached). ``encoded``: the images' encoder outputs to
        reuse, or an empty dict to keep them in."""
        packed = pack(rests, answer_ids)
        run = dict(prefix)
        if encoded:
            del run["pixel_values"]
            run["mm_encoder_outputs"] = dict(encoded)
        with torch.inference_mode():
            out = self.model(**run, use_cache=True, logits_to_keep=1)
            if encoded is not None and getattr(out, "image_outputs", None) is not None:
                encoded["image"] = out.image_outputs
            logits = out.logits[:, -1:] if packed.keep[0] == PREFIX_END else out.logits[:, :0]
            kept = [i for i in packed.keep if i != PREFIX_END]
            if packed.ids:
                later = self._packed_pass(prefix, out.past_key_values, packed, kept)
                logits = torch.cat([logits, later], dim=1)
            logp = torch.log_softmax(logits.float(), dim=-1)  # [B, len(keep), V]
            scores = []
            for steps in packed.scored:  # one question: [B, K] from its answers' tokens
                rows, tokens, which = zip(
                    *((row, token, k) for k, s in enumerate(steps) for row, token in s),
                    strict=True,
                )
                picked = logp[:, list(rows), list(tokens)]  # [B, answer tokens in all]
                total = torch.zeros(logp.shape[0], len(steps), device=logp.device)
                total.index_add_(1, torch.tensor(which, device=logp.device), picked)
                scores.append(AnswerLogLikelihoods(total, torch.tensor([len(s) for s in steps])))
        return scores

    def _packed_pass(
        self, prefix: dict[str, torch.Tensor], cache: Any, packed: Packed, kept: list[int]
    ) -> torch.Tensor:
        """Logits ``[B, len(kept), V]`` of the packed continuations after the cached prefix:
        positions from the prefix's end (plus the M-RoPE offset, and PaliGemma's first
        position 1), a tree mask (windowed for
        sliding-window layers), per-token inputs carried from the prefix's last token."""
        batch, cached = prefix["input_ids"].shape
        ids = torch.tensor(packed.ids, device=self.device).expand(batch, -1)
        depth = torch.tensor(packed.depth, device=self.device)
        start = cached + self.family.first_position + self._rope_deltas(prefix)
        positions = start + depth  # [B, N]
        full = attention_bias(packed, cached, self.dtype).to(self.device)
        mask: Any = full.expand(batch, -1, -1, -1)
        if self.sliding:
            window = attention_bias(packed, cached, self.dtype, self.window).to(self.device)
            # a sliding cache layer keeps only the keys the window can still reach
            dropped = max(_sliding_offsets(cache, len(packed.ids)), default=0)
            window = window[..., dropped:].expand(batch, -1, -1, -1)
            if self.layer_types:
                mask = {t: window if t == "sliding_attention" else mask for t in self.layer_types}
            else:
                mask = window
        return self.model(
            input_ids=ids,
            cache=cache,
            attention_mask=mask,
            use_cache=False,
            logits_to_keep=torch.tensor(kept, device=self.device),
            **rope_kwargs(positions, self.family.mrope),
            **{key: _carry(prefix[key], ids.shape[1]) for key in self.family.carried},
        ).logits

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


def _sliding_offsets(cache: Any, steps: int) -> list[int]:
    """The full-pass index of the first key each sliding-window cache layer still holds."""
    layers = getattr(cache, "layers", [])
    return [layer.get_mask_sizes(steps)[1] for layer in layers if getattr(layer, "is_sliding", 0)]


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
