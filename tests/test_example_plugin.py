"""The example third-party plugin (examples/colorbench-hf), imported from its source folder."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
import torch

from colorbench.errors import ColorbenchError
from colorbench.plugin.pluginmanager import load_plugins

pytest.importorskip("transformers")
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "colorbench-hf"
TEXTS = ["red", "The color of the object is yellow", "a photo of a grey cat on a white mat"]
torch.set_num_threads(2)


@pytest.fixture(scope="module", autouse=True)
def example_on_path():
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(EXAMPLE))
        yield


@pytest.fixture(scope="module")
def models():
    from colorbench_hf import models

    return models


@pytest.fixture(scope="module", params=["hf-clip-tiny-random", "hf-siglip-tiny-random"])
def tiny(request, models):
    return models.create(request.param, device=torch.device("cpu"), precision="fp32", seed=0)


def images(n: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 64, 64), dtype=torch.uint8, generator=generator)


def test_preprocess_resizes_crops_and_normalises_like_the_processor():
    from colorbench_hf.adapter import Preprocess

    mean, std = (0.5, 0.25, 0.125), (0.5, 0.25, 2.0)
    prep = Preprocess(size=32, crop=(32, 32), mean=mean, std=std)
    image = torch.zeros(1, 3, 64, 128, dtype=torch.uint8)
    image[:, 0, :, :64] = 255  # left half red, right half blue
    image[:, 2, :, 64:] = 255
    out = prep(image)
    assert out.shape == (1, 3, 32, 32)  # shortest edge 32 -> 32x64, centre crop 32x32
    red = torch.tensor([(1 - mean[0]) / std[0], -mean[1] / std[1], -mean[2] / std[2]])
    blue = torch.tensor([-mean[0] / std[0], -mean[1] / std[1], (1 - mean[2]) / std[2]])
    torch.testing.assert_close(out[0, :, :, :14], red.view(3, 1, 1).expand(3, 32, 14))
    torch.testing.assert_close(out[0, :, :, 18:], blue.view(3, 1, 1).expand(3, 32, 14))
    squash = Preprocess(size=(16, 24), crop=None, mean=mean, std=std)(image)
    assert squash.shape == (1, 3, 16, 24)


def test_preprocess_reads_clip_and_siglip_processors():
    from colorbench_hf.adapter import Preprocess
    from torchvision.transforms import InterpolationMode
    from transformers import CLIPImageProcessor, SiglipImageProcessor

    clip = Preprocess.from_processor(CLIPImageProcessor())
    assert (clip.size, clip.crop, clip.interpolation) == (
        224,
        (224, 224),
        InterpolationMode.BICUBIC,
    )
    assert clip.mean == pytest.approx((0.48145466, 0.4578275, 0.40821073))
    siglip = Preprocess.from_processor(SiglipImageProcessor(resample=2))
    assert (siglip.size, siglip.crop, siglip.mean) == ((224, 224), None, (0.5, 0.5, 0.5))
    assert siglip.interpolation == InterpolationMode.BILINEAR


def test_tiny_model_is_a_function_of_the_seed_only(models, tiny):
    state = torch.random.get_rng_state()
    again = models.create(tiny.model_id, device=torch.device("cpu"), precision="fp32", seed=0)
    other = models.create(tiny.model_id, device=torch.device("cpu"), precision="fp32", seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    batch = images(2)
    torch.testing.assert_close(tiny.score(batch, TEXTS), again.score(batch, TEXTS))
    assert not torch.allclose(tiny.score(batch, TEXTS), other.score(batch, TEXTS))
    assert tiny.provenance()["weights_sha256"] == "random"


def test_embeddings_are_normalised_and_independent_of_the_batch(tiny):
    batch = images(3)
    together = tiny.encode_images(batch)
    alone = torch.cat([tiny.encode_images(batch[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(together.norm(dim=-1), torch.ones(3))
    # CLIP pads to the longest text: padding must not change any text's embedding
    texts = tiny.encode_texts(TEXTS)
    torch.testing.assert_close(texts, torch.cat([tiny.encode_texts([t]) for t in TEXTS]))
    scores = tiny.score(batch, TEXTS)
    assert scores.shape == (3, 3)
    torch.testing.assert_close(scores, together @ texts.T)


def test_a_saved_folder_loads_to_the_same_model(models, tiny, tmp_path):
    from transformers import CLIPImageProcessor, SiglipImageProcessor

    family = models.CLIP if tiny.model_id.startswith("hf-clip") else models.SIGLIP
    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    if family is models.CLIP:
        processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32)
    else:
        processor = SiglipImageProcessor(size={"height": 32, "width": 32})
    processor.save_pretrained(tmp_path)
    loaded = models.create(f"{family.prefix}:{tmp_path}", precision="fp32")
    assert loaded.preprocess == tiny.preprocess
    batch = images(2, seed=1)
    torch.testing.assert_close(loaded.score(batch, TEXTS), tiny.score(batch, TEXTS))
    expected = hashlib.sha256((tmp_path / "model.safetensors").read_bytes()).hexdigest()
    assert loaded.provenance()["weights_sha256"] == expected


def test_absent_weights_fail_fast_in_one_line(models):
    start = time.monotonic()
    with pytest.raises(ColorbenchError) as info:
        models.create("hf-clip:someone/never-downloaded-clip")
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert (
        "\n" not in message and "huggingface-cli download someone/never-downloaded-clip" in message
    )
    with pytest.raises(ColorbenchError, match="--weights is not used"):
        models.create("hf-clip-tiny-random", weights=Path("w.pt"))


def test_registers_through_the_hook():
    plugins = load_plugins(["colorbench_hf"], entrypoints=False)
    assert plugins.problems == []
    for model_id in ("hf-clip:openai/clip-vit-base-patch32", "hf-siglip:/tmp/x"):
        assert plugins.models.resolve(model_id).plugin == "colorbench_hf"
    assert plugins.models.resolve("hf-clip-tiny-random").name == "hf-clip-tiny-random"


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_preprocess_matches_the_transformers_processor(family):
    import numpy as np
    from colorbench_hf.adapter import Preprocess
    from PIL import Image
    from transformers import CLIPImageProcessor, SiglipImageProcessor

    if family == "clip":
        processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32)
    else:
        processor = SiglipImageProcessor(size={"height": 32, "width": 32}, resample=2)
    coarse = torch.randint(0, 256, (1, 3, 8, 12), generator=torch.Generator().manual_seed(0))
    image = torch.nn.functional.interpolate(coarse.float(), size=(64, 96), mode="bilinear")
    image = image.round().clamp(0, 255).to(torch.uint8)
    pil = Image.fromarray(image[0].permute(1, 2, 0).numpy())
    reference = torch.from_numpy(np.asarray(processor(images=pil)["pixel_values"][0]))
    ours = Preprocess.from_processor(processor)(image)[0]
    # the processor rounds the resized image to uint8; ours stays float: at most one level apart
    one_level = 1.01 / 255 / min(processor.image_std)
    assert ours.shape == reference.shape
    assert (ours - reference).abs().max().item() <= one_level


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_half_precision_agrees_with_cpu(models):
    cpu = models.create("hf-clip-tiny-random", device=torch.device("cpu"), precision="fp32")
    gpu = models.create("hf-clip-tiny-random", device=torch.device("cuda"), precision="auto")
    assert gpu.dtype in (torch.bfloat16, torch.float16)
    batch = images(8)
    on_cpu, on_gpu = cpu.score(batch, TEXTS), gpu.score(batch.cuda(), TEXTS).cpu()
    torch.testing.assert_close(on_gpu, on_cpu, atol=3e-2, rtol=0)
