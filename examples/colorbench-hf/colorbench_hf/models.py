"""Building adapters from model ids: ``hf-clip:<repo-or-folder>``, ``hf-siglip:<...>`` and the
tiny random models ``hf-clip-tiny-random`` / ``hf-siglip-tiny-random`` that tests run offline.

Weights are never downloaded here: a repo id must already be in the Hugging Face cache (or be
a local folder), otherwise the factory fails at once with one line that says how to get it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import (
    AutoImageProcessor,
    AutoTokenizer,
    CLIPConfig,
    CLIPModel,
    PreTrainedTokenizerFast,
    SiglipConfig,
    SiglipModel,
)

from colorbench.errors import ColorbenchError
from colorbench.runner.device import torch_dtype
from colorbench.runner.weights import sha256_folder
from colorbench_hf.adapter import HFContrastiveAdapter, Preprocess, TextInput

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
BOS, EOS, PAD = "<|startoftext|>", "<|endoftext|>", "<pad>"
TINY = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
}
TINY_IMAGE = 32


@dataclass(frozen=True)
class Family:
    """One transformers model family: its classes, text conventions and tiny-random shape."""

    prefix: str
    model_class: type
    config_class: type
    text_length: int
    padding: str
    attention_mask: bool
    tiny_preprocess: Preprocess

    def text_input(self) -> TextInput:
        return TextInput(self.padding, self.text_length, self.attention_mask)


CLIP = Family(
    prefix="hf-clip",
    model_class=CLIPModel,
    config_class=CLIPConfig,
    text_length=77,
    padding="longest",
    attention_mask=True,
    tiny_preprocess=Preprocess(TINY_IMAGE, (TINY_IMAGE, TINY_IMAGE), CLIP_MEAN, CLIP_STD),
)
SIGLIP = Family(
    prefix="hf-siglip",
    model_class=SiglipModel,
    config_class=SiglipConfig,
    text_length=64,
    padding="max_length",
    attention_mask=False,
    tiny_preprocess=Preprocess((TINY_IMAGE, TINY_IMAGE), None, (0.5,) * 3, (0.5,) * 3),
)
FAMILIES = (CLIP, SIGLIP)


def byte_tokenizer(max_length: int) -> PreTrainedTokenizerFast:
    """A real (saveable) transformers tokenizer with one token per UTF-8 byte, built offline."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    bos, eos, pad = len(vocab), len(vocab) + 1, len(vocab) + 2
    vocab |= {BOS: bos, EOS: eos, PAD: pad}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, bos), (EOS, eos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        model_max_length=max_length,
    )


def tiny_config(family: Family) -> Any:
    """A CLIP/SigLIP config a few hundred kB in size, with the byte tokenizer's special ids."""
    tokenizer = byte_tokenizer(family.text_length)
    text = dict(
        TINY,
        vocab_size=len(tokenizer),
        max_position_embeddings=family.text_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    vision = dict(TINY, image_size=TINY_IMAGE, patch_size=8)
    return family.config_class(text_config=text, vision_config=vision, projection_dim=16)


def tiny_random(family: Family, seed: int) -> tuple[torch.nn.Module, PreTrainedTokenizerFast]:
    """The tiny model, initialised from ``seed`` without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = family.model_class(tiny_config(family))
    return model, byte_tokenizer(family.text_length)


def locate(reference: str, model_id: str) -> Path:
    """A local folder, or the cached snapshot of a Hub repo id; never a download."""
    folder = Path(reference).expanduser()
    if folder.is_dir():
        return folder
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(reference, local_files_only=True))
    except Exception as exc:
        raise ColorbenchError(
            f"{model_id}: {reference!r} is neither a folder nor in the Hugging Face cache "
            f"({type(exc).__name__}); download it where there is internet with "
            f"`huggingface-cli download {reference}` or name a local folder"
        ) from None


def pretrained(family: Family, folder: Path, model_id: str) -> tuple[Any, Any, Preprocess]:
    """Model, tokenizer and preprocessing from a saved folder (``save_pretrained`` layout)."""
    try:
        model = family.model_class.from_pretrained(folder, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        message = " ".join(str(exc).split())[:300]
        raise ColorbenchError(f"{model_id}: cannot load {folder}: {message}") from None
    return model, tokenizer, Preprocess.from_processor(processor)


def create(model_id: str, **options: Any) -> HFContrastiveAdapter:
    """The colorbench factory for every id this plugin registers."""
    if options.get("weights") is not None:
        raise ColorbenchError(
            f"{model_id}: --weights is not used by hf adapters; "
            "name the folder in the id instead: hf-clip:/path/to/folder"
        )
    device = torch.device(options.get("device") or "cpu")
    dtype = torch_dtype(options.get("precision") or "auto", device)
    for family in FAMILIES:
        if model_id == f"{family.prefix}-tiny-random":
            seed = int(options.get("seed") or 0)
            model, tokenizer = tiny_random(family, seed)
            preprocess, provenance = family.tiny_preprocess, {"weights_sha256": "random"}
            break
        if model_id.startswith(f"{family.prefix}:"):
            folder = locate(model_id.partition(":")[2], model_id)
            model, tokenizer, preprocess = pretrained(family, folder, model_id)
            provenance = {"weights_sha256": sha256_folder(folder), "source": str(folder)}
            break
    else:
        raise ColorbenchError(f"colorbench-hf does not provide {model_id!r}")
    provenance["transformers"] = transformers.__version__
    return HFContrastiveAdapter(
        model_id,
        model,
        tokenizer,
        preprocess,
        family.text_input(),
        device,
        dtype,
        provenance,
    )
