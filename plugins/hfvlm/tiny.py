"""Tiny random generative VLMs, one per supported family, built offline for tests and demos.

Each is a real transformers model and processor (``save_pretrained`` gives a folder that
``hf-vlm:<folder>`` loads like a downloaded checkpoint) with a few thousand parameters
per layer, random weights from a seed, a byte-level BPE tokenizer built with the
``tokenizers`` library (merges for the colour words, so answers have different token
counts as real ones do) and a minimal Jinja chat template in the family's style
(PaliGemma has none, as the real checkpoints). Images are resized to 28-64 pixels.

The models answer at random; tests check them against truths known by construction
(shared-prefix scores equal full forward passes; a head biased towards one colour
answers it), never against what a trained model would say.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from colorbench.palette import DEFAULT_PALETTE

#: words the tiny tokenizers merge into tokens (with and without a leading space): every
#: colour term, but only the short ones capitalised, so that the answers the adapter scores
#: ("Red", "Orange") have different token counts, as with real tokenizers
MERGED_WORDS = (
    *DEFAULT_PALETTE.names,
    *(name.capitalize() for name in DEFAULT_PALETTE.names if len(name) <= 4),
    "gray",
    "The",
    "color",
    "is",
    "What",
    "the",
    "of",
)
EOS, PAD = "<|endoftext|>", "<|pad|>"
#: a llama / gemma style beginning-of-sequence token, where the family uses one
BOS = "<s>"
TINY_TEXT = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
    # larger than the usual 0.02, so attention is peaked and a token at a wrong position or
    # behind a wrong mask moves the scores well beyond the 1e-4 the tests allow
    "initializer_range": 0.2,
}
TINY_VISION = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
}


def _merges(words: tuple[str, ...]) -> tuple[list[str], list[tuple[str, str]]]:
    """BPE merges that build each word left to right, then the word after a space."""
    tokens: list[str] = []
    merges: list[tuple[str, str]] = []

    def merge(left: str, right: str) -> None:
        if (left, right) not in merges:
            merges.append((left, right))
            tokens.append(left + right)

    for word in words:
        current = word[0]
        for char in word[1:]:
            merge(current, char)
            current += char
        merge("Ġ", word)
    return tokens, merges


def byte_bpe_tokenizer(
    named: dict[str, str],
    extra: tuple[str, ...] = (),
    bos: bool = False,
    words: tuple[str, ...] = (),
) -> PreTrainedTokenizerFast:
    """A saveable byte-level BPE tokenizer with the family's special tokens.

    ``named`` maps the attribute names processors read (``image_token``, ...) to their
    token; ``extra`` are further special tokens of the chat template. With ``bos`` the
    tokenizer prepends :data:`BOS` like llama and gemma tokenizers do. ``words`` are merged
    into tokens too (bench/bench_vlm.py: a question's words, one token each as in a real
    32,000-word vocabulary, instead of a token per letter).
    """
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {char: i for i, char in enumerate(alphabet)}
    tokens, merges = _merges((*MERGED_WORDS, *words))
    for token in tokens:
        vocab.setdefault(token, len(vocab))
    backend = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    specials = [EOS, PAD, *([BOS] if bos else []), *named.values(), *extra]
    backend.add_special_tokens(list(dict.fromkeys(specials)))
    if bos:
        backend.post_processor = processors.TemplateProcessing(
            single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab_id(backend, BOS))]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=EOS,
        pad_token=PAD,
        bos_token=BOS if bos else None,
        extra_special_tokens=named,
    )


def vocab_id(backend: Tokenizer, token: str) -> int:
    return backend.token_to_id(token)


def _text(tokenizer: PreTrainedTokenizerFast, **extra: Any) -> dict[str, Any]:
    """The tiny language model's config, with the tokenizer's size and special ids."""
    return {
        **TINY_TEXT,
        "vocab_size": len(tokenizer),
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        **extra,
    }


@dataclass(frozen=True)
class TinySpec:
    """How to build one family's tiny model: ``build() -> (config, processor)``."""

    family: str
    build: Callable[[], tuple[Any, Any]]


# ------------------------------------------------------------------ chat templates
def _chat(user: str, image: str, assistant: str, end: str, bos: str = "") -> str:
    """A Jinja chat template: ``user``/``assistant`` turn openers, ``end`` closes a turn;
    content is a list of image / text parts, or a string (as harnesses such as lmms-eval's
    ``llava_hf`` send it, with the image token written in)."""
    return (
        bos + "{% for m in messages %}{% if m['role'] == 'user' %}" + user + "{% else %}"
        + assistant + "{% endif %}{% if m['content'] is string %}{{ m['content'] }}{% else %}"
        + "{% for c in m['content'] %}{% if c['type'] == 'image' %}"
        + image + "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}" + end
        + "{% endfor %}{% if add_generation_prompt %}" + assistant + "{% endif %}"
    )  # fmt: skip


IM_USER, IM_ASSISTANT, IM_END = "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_end|>\n"
IM_TOKENS = ("<|im_start|>", "<|im_end|>")


QWEN_TOKENS = {
    "image_token": "<|image_pad|>",
    "video_token": "<|video_pad|>",
    "vision_start_token": "<|vision_start|>",
    "vision_end_token": "<|vision_end|>",
}
QWEN_IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"


def _qwen_ids(tokenizer: PreTrainedTokenizerFast) -> dict[str, int]:
    """The config's ids of the Qwen-VL special tokens (``image_token_id``...)."""
    return {
        f"{name}_id": tokenizer.convert_tokens_to_ids(token) for name, token in QWEN_TOKENS.items()
    }


TINY_QWEN_VISION = {
    "depth": 2,
    "hidden_size": 32,
    "embed_dim": 32,
    "intermediate_size": 64,
    "out_hidden_size": 32,
    "num_heads": 4,
    "fullatt_block_indexes": [1],
}


def qwen_vl(
    model_type: str,
    text: dict[str, Any] | None = None,
    vision: dict[str, Any] | None = None,
    mrope_section: tuple[int, int, int] = (2, 1, 1),
    max_pixels: int = 56 * 56,
) -> tuple[Any, Any]:
    """Config and processor of a Qwen2-VL / Qwen2.5-VL, tiny unless sizes are given.

    ``text`` and ``vision`` override the tiny sub-config entries (bench/bench_vlm.py builds
    a ~50M-parameter one); ``mrope_section`` must sum to half the attention head size;
    images are resized to at most ``max_pixels``.
    """
    tokenizer = byte_bpe_tokenizer(QWEN_TOKENS, IM_TOKENS)
    template = _chat(IM_USER, QWEN_IMAGE, IM_ASSISTANT, IM_END)
    pixels = {"min_pixels": 28 * 28, "max_pixels": max_pixels, "patch_size": 14, "merge_size": 2}
    processor_class = {
        "qwen2_vl": transformers.Qwen2VLProcessor,
        "qwen2_5_vl": transformers.Qwen2_5_VLProcessor,
    }[model_type]
    processor = processor_class(
        image_processor=transformers.Qwen2VLImageProcessor(**pixels),
        tokenizer=tokenizer,
        video_processor=transformers.Qwen2VLVideoProcessor(**pixels),
        chat_template=template,
    )
    vision = {
        **TINY_QWEN_VISION,
        **(vision or {}),
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 56,
    }
    rope = {"rope_type": "default", "mrope_section": list(mrope_section), "rope_theta": 10000.0}
    config = transformers.AutoConfig.for_model(
        model_type,
        text_config=_text(tokenizer, rope_parameters=rope, **(text or {})),
        vision_config=vision,
        **_qwen_ids(tokenizer),
    )
    return config, processor


def _llava_like(
    processor_class: Any,
    image_processor_class: Any,
    config_class: Any,
    turn: tuple[str, str],
    grid: list[list[int]] | None = None,
    text: dict[str, Any] | None = None,
    vision: dict[str, Any] | None = None,
    image_size: int = 28,
    words: tuple[str, ...] = (),
) -> tuple[Any, Any]:
    """A LLaVA-style model: a CLIP tower with 14-pixel patches, a llama and ``<image>\\n``
    before the question. llava-1.5 and LLaVA-NeXT differ only in their processor,
    image-processor and config classes, the user and assistant markers of a ``turn`` and
    NeXT's tile ``grid`` (image_grid_pinpoints); sizes as :func:`llava` says."""
    tokenizer = byte_bpe_tokenizer({"image_token": "<image>"}, bos=True, words=words)
    tiles = {} if grid is None else {"image_grid_pinpoints": grid}
    size = {
        "size": {"shortest_edge": image_size},
        "crop_size": {"height": image_size, "width": image_size},
    }
    processor = processor_class(
        image_processor=image_processor_class(**size, **tiles),
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=_chat(turn[0], "<image>\n", turn[1], " "),
    )
    vision = {
        **TINY_VISION,
        "projection_dim": 32,
        **(vision or {}),
        "image_size": image_size,
        "patch_size": 14,
    }
    config = config_class(
        text_config={"model_type": "llama", **_text(tokenizer, **(text or {}))},
        vision_config={"model_type": "clip_vision_model", **vision},
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1,
        image_seq_length=(image_size // 14) ** 2,
        **tiles,
    )
    return config, processor


def llava(
    text: dict[str, Any] | None = None,
    vision: dict[str, Any] | None = None,
    image_size: int = 28,
    words: tuple[str, ...] = (),
) -> tuple[Any, Any]:
    """Config and processor of a LLaVA-1.5: ``USER: <image>\\n... ASSISTANT:`` (a space
    precedes the answer), tiny unless sizes are given. A CLIP tower with 14-pixel patches
    makes ``(image_size / 14)^2`` image tokens: 4 for the tiny one, 576 at LLaVA-1.5's 336
    pixels (bench/bench_vlm.py); ``words``: see :func:`byte_bpe_tokenizer`."""
    return _llava_like(
        transformers.LlavaProcessor,
        transformers.CLIPImageProcessor,
        transformers.LlavaConfig,
        ("USER: ", "ASSISTANT:"),
        text=text,
        vision=vision,
        image_size=image_size,
        words=words,
    )


def _llava_onevision() -> tuple[Any, Any]:
    tokenizer = byte_bpe_tokenizer({"image_token": "<image>", "video_token": "<video>"}, IM_TOKENS)
    template = _chat(IM_USER, "<image>\n", IM_ASSISTANT, IM_END)
    pixels = {"size": {"height": 28, "width": 28}, "image_grid_pinpoints": [[28, 28]]}
    processor = transformers.LlavaOnevisionProcessor(
        image_processor=transformers.LlavaOnevisionImageProcessor(**pixels),
        tokenizer=tokenizer,
        video_processor=transformers.LlavaOnevisionVideoProcessor(size={"height": 28, "width": 28}),
        num_image_tokens=4,
        vision_feature_select_strategy="full",
        chat_template=template,
    )
    vision = {**TINY_VISION, "image_size": 28, "patch_size": 14}
    config = transformers.LlavaOnevisionConfig(
        text_config={"model_type": "qwen2", **_text(tokenizer)},
        vision_config={"model_type": "siglip_vision_model", **vision},
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
        image_grid_pinpoints=[[28, 28]],
        vision_feature_layer=-1,
    )
    return config, processor


IDEFICS_TOKENS = {
    "image_token": "<image>",
    "fake_image_token": "<fake_token_around_image>",
    "global_image_token": "<global-img>",
    "end_of_utterance_token": "<end_of_utterance>",
}


def _idefics(model_type: str) -> tuple[Any, Any]:
    """Idefics3 / SmolVLM: ``User:<image>...<end_of_utterance>\nAssistant:``."""
    tokenizer = byte_bpe_tokenizer(
        {**IDEFICS_TOKENS, **({"video_token": "<video>"} if model_type == "smolvlm" else {})},
        tuple(f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)),
        bos=True,
    )
    template = _chat("User:", "<image>", "Assistant:", "<end_of_utterance>\n", bos="<s>")
    pixels = {
        "size": {"longest_edge": 32},
        "max_image_size": {"longest_edge": 32},
        "do_image_splitting": False,
    }
    if model_type == "smolvlm":
        processor = transformers.SmolVLMProcessor(
            image_processor=transformers.SmolVLMImageProcessor(**pixels),
            tokenizer=tokenizer,
            video_processor=transformers.SmolVLMVideoProcessor(),
            image_seq_len=1,
            chat_template=template,
        )
        config_class = transformers.SmolVLMConfig
    else:
        processor = transformers.Idefics3Processor(
            image_processor=transformers.Idefics3ImageProcessor(**pixels),
            tokenizer=tokenizer,
            image_seq_len=1,
            chat_template=template,
        )
        config_class = transformers.Idefics3Config
    config = config_class(
        text_config={"model_type": "llama", **_text(tokenizer)},
        vision_config={**TINY_VISION, "image_size": 32, "patch_size": 16},
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        scale_factor=2,
    )
    return config, processor


def _gemma3() -> tuple[Any, Any]:
    """Gemma 3: the template starts with ``<bos>`` itself; image tokens attend both ways."""
    names = {"boi_token": "<start_of_image>", "image_token": "<image_soft_token>",
             "eoi_token": "<end_of_image>"}  # fmt: skip
    tokenizer = byte_bpe_tokenizer(names, ("<start_of_turn>", "<end_of_turn>"), bos=True)
    template = _chat(
        "<start_of_turn>user\n",
        "<start_of_image>",
        "<start_of_turn>model\n",
        "<end_of_turn>\n",
        bos="<s>",
    )
    pixels = {"size": {"height": 28, "width": 28}}
    processor = transformers.Gemma3Processor(
        image_processor=transformers.Gemma3ImageProcessor(**pixels),
        tokenizer=tokenizer,
        image_seq_length=4,
        chat_template=template,
    )
    text = _text(tokenizer, head_dim=8, sliding_window=16, query_pre_attn_scalar=8)
    config = transformers.Gemma3Config(
        text_config=text,
        vision_config={**TINY_VISION, "image_size": 28, "patch_size": 7},
        mm_tokens_per_image=4,
        boi_token_index=tokenizer.convert_tokens_to_ids("<start_of_image>"),
        eoi_token_index=tokenizer.convert_tokens_to_ids("<end_of_image>"),
        image_token_index=tokenizer.convert_tokens_to_ids("<image_soft_token>"),
    )
    return config, processor


def _paligemma() -> tuple[Any, Any]:
    """PaliGemma: no chat template; the processor builds ``<image>... <bos>question\n``."""
    tokenizer = byte_bpe_tokenizer({"image_token": "<image>"}, bos=True)
    image_processor = transformers.SiglipImageProcessor(size={"height": 28, "width": 28})
    image_processor.image_seq_length = 4
    processor = transformers.PaliGemmaProcessor(
        image_processor=image_processor, tokenizer=tokenizer
    )
    config = transformers.PaliGemmaConfig(
        text_config={"model_type": "gemma", **_text(tokenizer, head_dim=8)},
        vision_config={**TINY_VISION, "image_size": 28, "patch_size": 14, "projection_dim": 32},
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        projection_dim=32,
        hidden_size=32,
    )
    return config, processor


def _internvl() -> tuple[Any, Any]:
    names = {"start_image_token": "<img>", "end_image_token": "</img>",
             "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"}  # fmt: skip
    tokenizer = byte_bpe_tokenizer(names, IM_TOKENS)
    template = _chat(IM_USER, "<IMG_CONTEXT>\n", IM_ASSISTANT, IM_END)
    pixels = {"size": {"height": 28, "width": 28}, "max_patches": 1}
    processor = transformers.InternVLProcessor(
        image_processor=transformers.GotOcr2ImageProcessor(**pixels),
        tokenizer=tokenizer,
        video_processor=transformers.InternVLVideoProcessor(size={"height": 28, "width": 28}),
        image_seq_length=1,
        chat_template=template,
    )
    vision = {**TINY_VISION, "image_size": [28, 28], "patch_size": [14, 14]}
    config = transformers.InternVLConfig(
        text_config={"model_type": "qwen2", **_text(tokenizer)},
        vision_config=vision,
        image_token_id=tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"),
        image_seq_length=1,
    )
    return config, processor


def _qwen3_vl() -> tuple[Any, Any]:
    """Qwen3-VL: 16-pixel patches, interleaved M-RoPE, DeepStack features from layer 0."""
    tokenizer = byte_bpe_tokenizer(QWEN_TOKENS, IM_TOKENS)
    template = _chat(IM_USER, QWEN_IMAGE, IM_ASSISTANT, IM_END)
    pixels = {"size": {"shortest_edge": 32 * 32, "longest_edge": 64 * 64}, "patch_size": 16,
              "merge_size": 2}  # fmt: skip
    processor = transformers.Qwen3VLProcessor(
        image_processor=transformers.Qwen2VLImageProcessor(**pixels),
        tokenizer=tokenizer,
        video_processor=transformers.Qwen3VLVideoProcessor(**pixels),
        chat_template=template,
    )
    vision = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 4,
              "out_hidden_size": 32, "patch_size": 16, "spatial_merge_size": 2,
              "temporal_patch_size": 2, "num_position_embeddings": 16,
              "deepstack_visual_indexes": [0]}  # fmt: skip
    rope = {"rope_type": "default", "mrope_section": [2, 1, 1], "mrope_interleaved": True,
            "rope_theta": 10000.0}  # fmt: skip
    config = transformers.Qwen3VLConfig(
        text_config=_text(tokenizer, head_dim=8, rope_parameters=rope),
        vision_config=vision,
        **_qwen_ids(tokenizer),
    )
    return config, processor


def _llava_next() -> tuple[Any, Any]:
    """LLaVA-NeXT (llava-v1.6-mistral style ``[INST] <image>\\n... [/INST]``), one tile."""
    return _llava_like(
        transformers.LlavaNextProcessor,
        transformers.LlavaNextImageProcessor,
        transformers.LlavaNextConfig,
        ("[INST] ", "[/INST]"),
        grid=[[28, 28]],
    )


def _mistral3() -> tuple[Any, Any]:
    """Mistral 3 (Pixtral vision): ``[IMG]`` rows closed by ``[IMG_BREAK]`` / ``[IMG_END]``."""
    names = {"image_token": "[IMG]", "image_break_token": "[IMG_BREAK]",
             "image_end_token": "[IMG_END]"}  # fmt: skip
    tokenizer = byte_bpe_tokenizer(names, ("[INST]", "[/INST]"), bos=True)
    template = _chat("[INST]", "[IMG]", "[/INST]", "", bos=BOS)
    processor = transformers.PixtralProcessor(
        image_processor=transformers.PixtralImageProcessor(size={"longest_edge": 32}, patch_size=8),
        tokenizer=tokenizer,
        patch_size=8,
        spatial_merge_size=2,
        chat_template=template,
        **names,
    )
    vision = {"model_type": "pixtral", "hidden_size": 32, "intermediate_size": 64,
              "num_hidden_layers": 2, "num_attention_heads": 4, "head_dim": 8,
              "image_size": 32, "patch_size": 8}  # fmt: skip
    config = transformers.Mistral3Config(
        text_config={"model_type": "mistral", **_text(tokenizer, head_dim=8)},
        vision_config=vision,
        image_token_index=tokenizer.convert_tokens_to_ids("[IMG]"),
        spatial_merge_size=2,
    )
    return config, processor


def _mllama() -> tuple[Any, Any]:
    """Llama 3.2 Vision: one ``<|image|>`` token; text reads the image by cross-attention."""
    tokenizer = byte_bpe_tokenizer(
        {"image_token": "<|image|>"},
        ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
        bos=True,
    )
    template = _chat(
        "<|start_header_id|>user<|end_header_id|>\n\n",
        "<|image|>",
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
        "<|eot_id|>",
        bos=BOS,
    )
    processor = transformers.MllamaProcessor(
        image_processor=transformers.MllamaImageProcessor(
            size={"height": 28, "width": 28}, max_image_tiles=4
        ),
        tokenizer=tokenizer,
        chat_template=template,
    )
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
              "num_global_layers": 1, "attention_heads": 4, "image_size": 28, "patch_size": 14,
              "max_num_tiles": 4, "vision_output_dim": 64,
              "intermediate_layers_indices": [0]}  # fmt: skip
    config = transformers.MllamaConfig(
        text_config=_text(tokenizer, cross_attention_layers=[1]),
        vision_config=vision,
        image_token_index=tokenizer.convert_tokens_to_ids("<|image|>"),
    )
    return config, processor


def _vipllava() -> tuple[Any, Any]:
    """VipLLaVA: a family with no table entry (tests of the generic path); LLaVA's
    processor, features from two vision layers."""
    llava_config, processor = llava()
    config = transformers.VipLlavaConfig(
        text_config=llava_config.text_config.to_dict(),
        vision_config=llava_config.vision_config.to_dict(),
        image_token_index=llava_config.image_token_index,
        vision_feature_layers=[-2, -1],
        image_seq_length=4,
    )
    return config, processor


TINY: dict[str, Callable[[], tuple[Any, Any]]] = {
    "qwen2_vl": lambda: qwen_vl("qwen2_vl"),
    "qwen2_5_vl": lambda: qwen_vl("qwen2_5_vl"),
    "llava": llava,
    "llava_onevision": _llava_onevision,
    "idefics3": lambda: _idefics("idefics3"),
    "smolvlm": lambda: _idefics("smolvlm"),
    "gemma3": _gemma3,
    "paligemma": _paligemma,
    "internvl": _internvl,
    "qwen3_vl": _qwen3_vl,
    "llava_next": _llava_next,
    "mistral3": _mistral3,
    "mllama": _mllama,
    #: no table entry: runs through the generic path
    "vipllava": _vipllava,
}


def tiny_model(family: str, seed: int = 0) -> tuple[torch.nn.Module, Any]:
    """The family's tiny model (random weights from ``seed``, global RNG untouched) and
    its processor."""
    config, processor = TINY[family]()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = transformers.AutoModelForImageTextToText.from_config(config)
    return model.eval(), processor


#: hostile checkpoint folders (tests and tools/bad_inputs.py): what each one holds
HOSTILE = {
    "sandbox": "a chat template reaching for Python internals (Jinja SecurityError)",
    "overflow": "a chat template looping beyond the Jinja sandbox's limits (OverflowError)",
    "pickle": "pickled weights that would run a command (torch.load weights_only refuses)",
    "remote-code": "a config asking for remote code (auto_map) that would run a command",
}


def hostile_folder(folder: Any, kind: str, marker: Any) -> None:
    """Save the tiny LLaVA to ``folder`` made hostile as :data:`HOSTILE` says; anything in
    it that ran would create the file ``marker`` (the proof that code ran)."""
    import json
    from pathlib import Path

    folder = Path(folder)
    model, processor = tiny_model("llava")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    command = f"touch {marker}"
    if kind == "sandbox":
        (folder / "chat_template.jinja").write_text(
            "{{ ''.__class__.__mro__[1].__subclasses__() }}"
        )
    elif kind == "overflow":
        (folder / "chat_template.jinja").write_text("{% for i in range(10**9) %}x{% endfor %}")
    elif kind == "pickle":
        (folder / "model.safetensors").unlink()
        torch.save({"evil": _Hostile(command)}, folder / "pytorch_model.bin")
    elif kind == "remote-code":
        config = json.loads((folder / "config.json").read_text())
        config["model_type"] = "evil_vlm"
        config["auto_map"] = {"AutoModelForImageTextToText": "modeling_evil.EvilModel"}
        (folder / "config.json").write_text(json.dumps(config))
        (folder / "modeling_evil.py").write_text(f"import os\nos.system({command!r})\n")
    else:
        raise ValueError(f"kind must be one of {list(HOSTILE)}")


class _Hostile:
    """Unpickling this would run ``command``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        import os

        return (os.system, (self.command,))
