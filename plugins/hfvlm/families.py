"""The generative VLM families ``hf-vlm`` supports, and what differs between them.

Keyed by the checkpoint's ``config.model_type``. Everything else (image preprocessing,
image token expansion, the chat template) comes from the checkpoint's own processor; a
family entry records only the few facts a likelihood scorer must know beyond that. This
module imports nothing heavy, so ``colorbench list`` and error messages can name the
families without importing transformers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """One architecture family of generative VLMs."""

    #: ``config.model_type`` of its checkpoints
    model_type: str
    #: how people name it
    name: str
    #: the processor wants ``[[image], [image], ...]`` (one list per sample)
    nested_images: bool = False
    #: False where the processor builds the prompt itself (PaliGemma: no chat template)
    chat_template: bool = True
    #: M-RoPE (Qwen2-VL, Qwen2.5-VL): text after the image continues at the prefix's last
    #: position + 1, not at the prefix length, so answer positions are computed from the
    #: model's ``rope_deltas``
    mrope: bool = False
    #: ``token_type_ids`` of answer tokens in a full forward pass, where the model reads
    #: them (PaliGemma: 1 = suffix, attended causally; Gemma 3: 0 = text)
    answer_token_type: int = 0
    #: the image attends to the question (PaliGemma's prefix is bidirectional), so no KV
    #: cache of the image alone can be continued by several questions
    bidirectional_prefix: bool = False
    #: the position of the first token (PaliGemma counts from 1), so continuations of a
    #: cached prefix are placed where a full pass puts them
    first_position: int = 0
    #: per-token inputs that every later token continues (mllama's ``cross_attention_mask``:
    #: text after the image reads it), repeated from the prompt's last token
    carried: tuple[str, ...] = ()
    #: no table entry: any other ``AutoModelForImageTextToText`` architecture, scored with
    #: one full forward pass per answer (the model places its own positions and masks)
    generic: bool = False


FAMILIES: dict[str, Family] = {
    f.model_type: f
    for f in (
        Family("llava", "LLaVA"),
        Family("llava_onevision", "LLaVA-OneVision"),
        Family("qwen2_vl", "Qwen2-VL", mrope=True),
        Family("qwen2_5_vl", "Qwen2.5-VL", mrope=True),
        Family("idefics3", "Idefics3", nested_images=True),
        Family("smolvlm", "SmolVLM", nested_images=True),
        Family("gemma3", "Gemma 3", nested_images=True),
        Family(
            "paligemma",
            "PaliGemma",
            chat_template=False,
            answer_token_type=1,
            bidirectional_prefix=True,
            first_position=1,
        ),
        Family("internvl", "InternVL"),
        Family("qwen3_vl", "Qwen3-VL", mrope=True),
        Family("llava_next", "LLaVA-NeXT"),
        Family("mistral3", "Mistral 3"),
        Family("mllama", "Llama 3.2 Vision", nested_images=True, carried=("cross_attention_mask",)),
    )
}


#: tiny models of families outside the table (``hf-vlm-tiny-<type>``), for the generic path
TINY_OUTSIDE_TABLE = ("vipllava",)


def generic(model_type: str) -> Family:
    """A family without a table entry: generation, and likelihood one pass per answer."""
    return Family(model_type, model_type, generic=True)


def supported() -> str:
    """``"LLaVA (llava), ..."``: the families, for messages."""
    return ", ".join(f"{f.name} ({f.model_type})" for f in FAMILIES.values())
