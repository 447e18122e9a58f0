"""The open_clip adapter family: registration, encoding, determinism and weights.

Each random-init model is created once per module (a few seconds each on CPU).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import open_clip
import pytest
import torch
from openclip_support import (
    centre_rn50_image_features,
    flat_images,
    put_in_hub_cache,
    save_open_clip_checkpoint,
)
from safetensors.torch import save

from colorbench.errors import ColorbenchError, WeightsError
from colorbench.palette import DEFAULT_PALETTE
from colorbench.plugin.pluginmanager import load_plugins
from colorbench.plugins import openclip_weights
from colorbench.plugins.openclip import OpenClipAdapter
from colorbench.plugins.openclip_load import load_weights
from colorbench.runner.weights import sha256_file

torch.set_num_threads(2)
CPU = torch.device("cpu")
#: six palette colours, chromatic and achromatic: enough variety for a centred model
COLOURS = ("black", "white", "red", "yellow", "green", "blue")
FLAT = flat_images([DEFAULT_PALETTE[c].rgb for c in COLOURS])
FEW = FLAT[1:3]


@pytest.fixture(scope="module")
def models():
    return load_plugins(["colorbench.plugins.openclip"], entrypoints=False).models


@pytest.fixture(scope="module")
def rn50() -> OpenClipAdapter:
    return OpenClipAdapter.from_id("random-RN50", device=CPU, seed=0)


@pytest.fixture(scope="module")
def vit() -> OpenClipAdapter:
    return OpenClipAdapter.from_id("random-ViT-B-32", device=CPU, seed=0)


@pytest.fixture
def empty_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(openclip_weights, "hub_cache_dir", lambda: tmp_path)
    return tmp_path


# -- registration -------------------------------------------------------------------------


def test_every_open_clip_pretrained_pair_is_an_exact_id(models) -> None:
    exact = {e.name for e in models if not e.is_pattern}
    assert exact == {f"{tag}-{arch}" for arch, tag in open_clip.list_pretrained()}
    for model_id in ("openai-RN50", "openai-ViT-B-32", "laion2b_s34b_b79k-ViT-B-32"):
        entry = models.resolve(model_id)
        assert (entry.name, entry.plugin) == (model_id, "colorbench.plugins.openclip")


def test_families_resolve_by_pattern_and_unknown_ids_get_suggestions(models) -> None:
    assert models.resolve("random-RN50").name == "random-*"
    assert models.resolve("hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K").name == "hf-hub:*"
    with pytest.raises(ColorbenchError, match="did you mean: openai-RN50"):
        models.resolve("openai-RN5")


def test_registration_does_not_import_open_clip() -> None:
    code = (
        "import sys; from colorbench.plugin.pluginmanager import load_plugins; "
        "p = load_plugins(['colorbench.plugins.openclip'], entrypoints=False); "
        "assert len(p.models) > 100 and not p.problems; "
        "assert 'open_clip' not in sys.modules, 'open_clip imported at registration'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_random_arch_and_precision_are_one_line_errors() -> None:
    with pytest.raises(ColorbenchError, match="did you mean: RN50"):
        OpenClipAdapter.from_id("random-RN5O")
    with pytest.raises(ColorbenchError, match="unknown precision 'fp8'"):
        OpenClipAdapter.from_id("random-RN50", precision="fp8")


# -- encoding -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "dim"), [("rn50", 1024), ("vit", 512)])
def test_encoders_give_unit_vectors_and_score_is_their_product(request, name, dim) -> None:
    adapter = request.getfixturevalue(name)
    texts = ["red", "The color of the object is blue"]
    images, words = adapter.encode_images(FEW), adapter.encode_texts(texts)
    assert images.shape == (2, dim) and words.shape == (2, dim)
    assert torch.allclose(images.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert torch.allclose(words.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert torch.allclose(adapter.score(FEW, texts), images @ words.T, atol=1e-6)


def test_preprocess_keeps_a_flat_colour_flat_at_the_models_size(vit) -> None:
    rgb = (200, 30, 90)
    pixels = vit.preprocess(flat_images([rgb], size=(97, 150)))
    assert pixels.shape == (1, 3, 224, 224)
    assert pixels.is_contiguous(memory_format=torch.channels_last)
    mean, std = (
        torch.tensor(v).view(3, 1, 1)
        for v in (vit.model.visual.preprocess_cfg[k] for k in ("mean", "std"))
    )
    expected = ((torch.tensor(rgb).view(3, 1, 1) / 255 - mean) / std).expand(3, 224, 224)
    assert torch.allclose(pixels[0], expected, atol=1e-4)


def test_preprocess_centre_crops_a_wide_image(vit) -> None:
    """224x448 with red/blue/green quarters: the centre crop keeps exactly the blue half."""
    wide = flat_images([(255, 0, 0)], size=(224, 448)).clone()
    wide[:, :, :, 112:336] = torch.tensor([0, 0, 255], dtype=torch.uint8).view(1, 3, 1, 1)
    wide[:, :, :, 336:] = torch.tensor([0, 255, 0], dtype=torch.uint8).view(1, 3, 1, 1)
    blue = flat_images([(0, 0, 255)])
    assert torch.equal(vit.preprocess(wide), vit.preprocess(blue))


def test_images_that_are_not_uint8_rgb_are_refused(rn50) -> None:
    with pytest.raises(ColorbenchError, match="uint8"):
        rn50.encode_images(FLAT.float())


def test_random_init_is_determined_by_the_seed(rn50) -> None:
    weights = rn50.model.state_dict()
    again = OpenClipAdapter.from_id("random-RN50", seed=0).model.state_dict()
    other = OpenClipAdapter.from_id("random-RN50", seed=1).model.state_dict()
    assert all(torch.equal(again[k], v) for k, v in weights.items())
    assert not torch.equal(other["visual.conv1.weight"], weights["visual.conv1.weight"])
    assert rn50.provenance()["weights_sha256"] == "random"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_autocast_agrees_with_cpu_fp32(rn50) -> None:
    cuda = OpenClipAdapter.from_id("random-RN50", seed=0, device=torch.device("cuda"))
    assert cuda.compute_dtype == torch.float16
    similarity = (cuda.encode_images(FEW.cuda()).cpu() * rn50.encode_images(FEW)).sum(-1)
    assert similarity.min() > 0.99


# -- hf-hub models ---------------------------------------------------------------------------------

#: a tiny open_clip model as a hub repository would describe it (open_clip_config.json)
TINY_HUB_CONFIG = {
    "model_cfg": {
        "embed_dim": 32,
        "vision_cfg": {
            "image_size": 32,
            "layers": 1,
            "width": 32,
            "head_width": 16,
            "patch_size": 16,
        },
        "text_cfg": {
            "context_length": 77,
            "vocab_size": 49408,
            "width": 32,
            "heads": 2,
            "layers": 1,
        },
    },
    "preprocess_cfg": {"mean": [0.5, 0.25, 0.5], "std": [0.25, 0.5, 0.25]},
}


def test_hf_hub_model_is_built_from_config_and_weights_in_the_hub_cache(empty_hub_cache) -> None:
    torch.manual_seed(3)
    reference = open_clip.CLIP(**TINY_HUB_CONFIG["model_cfg"]).eval()
    repo = "colorbench-test/tiny-clip"
    put_in_hub_cache(
        empty_hub_cache, repo, "open_clip_config.json", json.dumps(TINY_HUB_CONFIG).encode()
    )
    state = {k: v.contiguous() for k, v in reference.state_dict().items()}
    weights = put_in_hub_cache(empty_hub_cache, repo, "open_clip_model.safetensors", save(state))

    adapter = OpenClipAdapter.from_id(f"hf-hub:{repo}")
    pixels = adapter.preprocess(flat_images([(255, 0, 51)], size=(40, 40)))
    assert pixels.shape == (1, 3, 32, 32)
    expected = torch.tensor([(1 - 0.5) / 0.25, (0 - 0.25) / 0.5, (0.2 - 0.5) / 0.25])
    assert torch.allclose(pixels[0, :, 5, 7], expected, atol=1e-5)
    with torch.inference_mode():
        image = reference.encode_image(adapter.preprocess(FEW), normalize=True)
        text = reference.encode_text(open_clip.tokenize(["red", "blue"]), normalize=True)
    assert torch.allclose(adapter.encode_images(FEW), image, atol=1e-5)
    assert torch.allclose(adapter.encode_texts(["red", "blue"]), text, atol=1e-5)
    assert adapter.provenance()["weights_sha256"] == sha256_file(weights)


# -- pretrained weights ----------------------------------------------------------------------------


def test_pretrained_id_without_weights_fails_fast_naming_the_file(empty_hub_cache) -> None:
    start = time.monotonic()
    with pytest.raises(WeightsError) as info:
        OpenClipAdapter.from_id("openai-RN50")
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert "\n" not in message
    for part in ("open_clip_model.safetensors", "timm/resnet50_clip.openai", "--weights PATH"):
        assert part in message
    assert str(empty_hub_cache) in message


def test_architecture_needing_uncached_hf_repos_fails_fast(empty_hub_cache, monkeypatch):
    monkeypatch.setattr(openclip_weights, "hub_reachable", lambda: False)
    start = time.monotonic()
    with pytest.raises(WeightsError, match="needs the Hugging Face repositories roberta-base"):
        OpenClipAdapter.from_id("random-roberta-ViT-B-32")
    assert time.monotonic() - start < 10


def test_uncached_file_is_downloaded_when_the_hub_answers(empty_hub_cache, monkeypatch) -> None:
    """Safetensors first, then the pickle name, as open_clip asks the hub; failures listed."""
    import huggingface_hub

    asked = []

    def download(repo_id, filename, cache_dir):
        asked.append(filename)
        if filename.endswith(".safetensors"):
            raise FileNotFoundError(filename)
        return str(cache_dir / filename)

    monkeypatch.setattr(openclip_weights, "hub_reachable", lambda: True)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    files = openclip_weights.HUB_WEIGHT_FILES
    got = openclip_weights.hub_file("org/repo", files, "x")
    assert got == empty_hub_cache / "open_clip_pytorch_model.bin" and asked == list(files)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: 1 / 0)
    with pytest.raises(WeightsError, match="the hub did not serve it .*ZeroDivisionError"):
        openclip_weights.hub_file("org/repo", files, "x")


def test_offline_mode_fails_without_touching_the_network(empty_hub_cache, monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(openclip_weights.socket, "create_connection", pytest.fail)
    with pytest.raises(WeightsError, match="cannot be reached"):
        OpenClipAdapter.from_id("openai-RN50")


@pytest.fixture(scope="module")
def centred_checkpoint(rn50, tmp_path_factory) -> tuple[Path, torch.Tensor]:
    """random-RN50 (seed 0) with image features centred over FLAT, saved as an open_clip
    training checkpoint (``state_dict``, ``module.`` keys), and its features of FLAT."""
    bias = rn50.model.visual.attnpool.c_proj.bias
    original = bias.detach().clone()
    features = centre_rn50_image_features(rn50.model, rn50.preprocess(FLAT))
    path = tmp_path_factory.mktemp("ckpt") / "centred.pt"
    save_open_clip_checkpoint(rn50.model, path, wrapped=True)
    with torch.no_grad():
        bias.copy_(original)
    return path, features.detach()


def test_pretrained_id_loads_a_checkpoint_given_as_weights(centred_checkpoint) -> None:
    path, features = centred_checkpoint
    adapter = OpenClipAdapter.from_id("openai-RN50", weights=path, seed=1)
    images = adapter.encode_images(FLAT)
    assert torch.allclose(images, torch.nn.functional.normalize(features, dim=-1), atol=1e-4)
    answers = (images @ adapter.encode_texts(COLOURS).T).argmax(1)
    assert len(set(answers.tolist())) >= 3, f"answers barely vary: {answers.tolist()}"

    provenance = adapter.provenance()
    assert provenance["pretrained"] == "openai" and provenance["arch"] == "RN50"
    assert provenance["weights_sha256"] == sha256_file(path)


def test_checkpoint_of_another_architecture_is_a_one_line_mismatch(centred_checkpoint, vit):
    with pytest.raises(WeightsError, match=r"centred\.pt does not fit the model: missing keys"):
        load_weights(vit.model, centred_checkpoint[0])


def test_pretrained_id_finds_its_weights_in_the_hub_cache(centred_checkpoint, empty_hub_cache):
    path, features = centred_checkpoint
    cached = put_in_hub_cache(
        empty_hub_cache,
        "timm/resnet50_clip.openai",
        "open_clip_pytorch_model.bin",
        path.read_bytes(),
    )
    adapter = OpenClipAdapter.from_id("openai-RN50")
    assert adapter.provenance()["weights"] == str(cached)
    expected = torch.nn.functional.normalize(features[1:3], dim=-1)
    assert torch.allclose(adapter.encode_images(FEW), expected, atol=1e-4)
