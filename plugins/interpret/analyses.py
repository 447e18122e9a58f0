"""``colorbench analyze neurons`` and ``colorbench analyze itsm``: options, model, outputs."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from rich.console import Console

from colorbench.atomic import write_parquet, write_text
from colorbench.cli.argtypes import add_samples_option, add_seed_option, positive_int
from colorbench.errors import ColorbenchError
from colorbench.palette import DEFAULT_PALETTE, Palette
from colorbench.plugin.analysis import Analysis
from colorbench.plugin.pluginmanager import Plugins
from colorbench.report.results import model_slug
from colorbench.runner.progress import progress_bar
from colorbench.stimuli.base import Sample, StimulusSet


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="ID", help="open_clip model id")
    parser.add_argument("--weights", type=Path, metavar="PATH", help="checkpoint for the model")
    add_seed_option(parser)
    parser.add_argument("--batch-size", type=positive_int, default=32, metavar="N")
    parser.add_argument(
        "--max-images",
        type=positive_int,
        metavar="M",
        help="use at most M stimulus images, evenly spaced over the index space (smoke runs)",
    )
    parser.add_argument("--out", type=Path, metavar="DIR", help="output folder")


def open_model(args: argparse.Namespace, plugins: Plugins, palette: Palette = DEFAULT_PALETTE):
    """The model's adapter, checked to expose ``model`` and ``preprocess`` (open_clip family)."""
    from colorbench.plugin.adapter import check_adapter
    from colorbench.runner.device import resolve_device

    device = resolve_device(getattr(args, "device", "auto") or "auto")
    entry = plugins.models.resolve(args.model)
    created = entry.obj(
        args.model,
        device=device,
        precision="fp32",
        weights=args.weights,
        palette=palette,
        seed=args.seed,
    )
    adapter = check_adapter(created, args.model, entry.plugin)
    if not hasattr(adapter, "model") or not hasattr(adapter, "preprocess"):
        raise ColorbenchError(
            f"model {args.model!r} does not expose its encoder (.model, .preprocess); "
            "the analyses need an open_clip model such as random-RN50 or openai-RN50"
        )
    return adapter, device


def spread_samples(stimuli: StimulusSet, per_combination: int, limit: int | None) -> list[Sample]:
    """Samples of the index space, thinned evenly to ``limit`` so every factor stays covered."""
    total = stimuli.size(per_combination)
    count = total if limit is None else min(limit, total)
    indices = sorted({int(i) for i in torch.linspace(0, total - 1, count).round().tolist()})
    return [stimuli.sample_at(i, per_combination) for i in indices]


def _out_dir(args: argparse.Namespace, analysis: str) -> Path:
    out = args.out or Path("analysis") / analysis / model_slug(args.model)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ColorbenchError(
            f"cannot create --out {out}: {exc.strerror}; pick another folder"
        ) from None
    return out


class NeuronsAnalysis(Analysis):
    """Paper section 4 on the image encoder: CSI, neuron features, hues, f_c, classes."""

    name = "neurons"
    description = "neuron colour selectivity, Stroop label selectivity and neuron classes"
    check_args = ("--model", "random-RN50", "--layers", "stem", "--top-k", "2")
    check_args += ("--stroop-top", "2", "--max-images", "4", "--feature-size", "8")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from colorbench.plugins.interpret.gray import DEFAULT_GRAY, GRAY_CONVERSIONS
        from colorbench.plugins.interpret.indices import Thresholds

        _add_model_options(parser)
        parser.add_argument(
            "--images",
            type=Path,
            metavar="DIR",
            help="natural-image folder (the paper: ImageNet val); default: scikit-image samples",
        )
        parser.add_argument(
            "--layers",
            nargs="+",
            metavar="NAME",
            help="layers to open; default stem layer1 layer2 layer3 layer4 (ViT: every block)",
        )
        parser.add_argument(
            "--top-k",
            type=positive_int,
            default=100,
            metavar="K",
            help="top natural patches per unit for CSI and features (100)",
        )
        parser.add_argument(
            "--stroop-samples",
            type=positive_int,
            default=1,
            metavar="N",
            help="Stroop samples per combination (990 combinations); default 1",
        )
        parser.add_argument(
            "--stroop-top",
            type=positive_int,
            default=100,
            metavar="N",
            help="top Stroop images per unit for f_c (100)",
        )
        parser.add_argument(
            "--feature-size",
            type=positive_int,
            default=32,
            metavar="PX",
            help="side of the neuron-feature images (32)",
        )
        parser.add_argument(
            "--csi-gray",
            choices=tuple(GRAY_CONVERSIONS),
            default=DEFAULT_GRAY,
            help="grey version of the top patches for CSI: "
            + "; ".join(f"{k}: {v}" for k, v in GRAY_CONVERSIONS.items())
            + f". Default {DEFAULT_GRAY} (the paper's reference); luma is one forward per "
            "image instead of one per receptive field",
        )
        defaults = Thresholds()
        for option, attr, help_text in (
            ("--csi-threshold", "colour_selective", "CSI of a colour-selective unit"),
            ("--not-activated", "not_activated", "max Stroop / max natural below: Not activated"),
            ("--colour-threshold", "colour", "f_c(font)+f_c(background) of a Colour unit"),
            ("--word-threshold", "word", "f_c(word) of a Colour Word unit"),
            ("--multimodal-threshold", "multimodal", "f_c in all three roles (<= 1/3)"),
            ("--any-word-threshold", "any_word", "share of response on the word: Any Word"),
            (
                "--any-word-natural",
                "any_word_natural",
                "max on corpus text images / max natural, also needed for Any Word",
            ),
        ):
            default = getattr(defaults, attr)
            parser.add_argument(
                option,
                dest=f"t_{attr}",
                type=_fraction,
                default=default,
                metavar="X",
                help=f"{help_text}; default {default:g}",
            )

    def run(self, args: argparse.Namespace, plugins: Plugins) -> int:
        from colorbench.plugins.interpret import figures
        from colorbench.plugins.interpret.corpus import folder_corpus, skimage_corpus
        from colorbench.plugins.interpret.gray import GRAY_CONVERSIONS
        from colorbench.plugins.interpret.indices import Thresholds
        from colorbench.plugins.interpret.layers import default_layers
        from colorbench.plugins.interpret.neurons import NeuronSettings, analyze_neurons
        from colorbench.plugins.interpret.report import neurons_report

        thresholds = Thresholds(**{k[2:]: v for k, v in vars(args).items() if k.startswith("t_")})
        if thresholds.multimodal > 1 / 3:
            raise ColorbenchError(
                f"--multimodal-threshold {thresholds.multimodal:g} can never be met: a colour "
                "plays at most one role per Stroop image, so its three shares sum to <= 1; "
                "use a value <= 0.33"
            )
        corpus = folder_corpus(args.images) if args.images else skimage_corpus()
        if corpus.skipped:
            Console(stderr=True, markup=False).print(
                f"colorbench: warning: --images {args.images}: skipped {corpus.skipped} "
                f"unreadable or non-image files, using {len(corpus)} images"
            )
        stroop = plugins.stimulus_sets.get("stroop")(palette=DEFAULT_PALETTE, seed=args.seed)
        samples = spread_samples(stroop, args.stroop_samples, args.max_images)
        adapter, device = open_model(args, plugins)
        encoder = adapter.model.visual
        layers = args.layers or default_layers(encoder)
        settings = NeuronSettings(
            top_k=args.top_k,
            stroop_top=args.stroop_top,
            batch_size=args.batch_size,
            feature_size=args.feature_size,
            csi_gray=args.csi_gray,
            thresholds=thresholds,
        )
        out = _out_dir(args, "neurons")
        quiet = bool(getattr(args, "quiet", False))
        started = time.perf_counter()
        with progress_bar(quiet) as progress:
            results = analyze_neurons(
                encoder,
                adapter.preprocess,
                layers,
                corpus,
                stroop,
                samples,
                settings,
                device,
                progress,
            )
        write_parquet(out / "neurons.parquet", results.table)
        write_text(out / "neurons.csv", results.table.to_csv(index=False))
        figure_files = {
            "CSI per layer": figures.csi_by_layer(
                results.table, out / "csi_by_layer.png", thresholds.colour_selective
            ),
            "Hue of colour-selective units vs. corpus": figures.hue_histograms(
                results, out / "hue_histograms.png"
            ),
            "Neuron classes per layer": figures.class_distribution(
                results.table, out / "classes_by_layer.png"
            ),
            "Example of each class: neuron feature and top Stroop crops": figures.class_examples(
                results, stroop, out / "class_examples.png"
            ),
        }
        meta = {
            "model": args.model,
            "weights sha256": adapter.provenance().get("weights_sha256", "unknown"),
            "device": device,
            "layers": " ".join(layers),
            "natural images": f"{len(corpus)} from {corpus.name} ({corpus.skipped} skipped)",
            "natural text images (Any Word check)": (
                f"{len(corpus.text_items)}"
                if corpus.text_items
                else "none: Any Word rests on the Stroop text share alone"
            ),
            "Stroop images": len(samples),
            "top-k patches": settings.top_k,
            "CSI grey conversion": f"{settings.csi_gray}: {GRAY_CONVERSIONS[settings.csi_gray]}",
            "top-N Stroop images": settings.stroop_top,
            "wall time (s)": f"{time.perf_counter() - started:.1f}",
        }
        report = neurons_report(results, out, meta, figure_files, thresholds)
        if not quiet:
            Console(stderr=True).print(f"neurons: wrote {report} ({len(results.table)} units)")
        return 0


class ItsmAnalysis(Analysis):
    """ECLIP image-text similarity maps: does the colour answer come from the object?"""

    name = "itsm"
    description = "image-text similarity maps: similarity on the object vs. its area"
    check_args = ("--model", "random-RN50", "--max-images", "2")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        _add_model_options(parser)
        parser.add_argument(
            "--task",
            default="global-color",
            metavar="NAME",
            help="task whose stimuli and prompt are used; default global-color",
        )
        parser.add_argument("--prompt", metavar="ID", help="prompt id of the task; default first")
        add_samples_option(parser)

    def run(self, args: argparse.Namespace, plugins: Plugins) -> int:
        from colorbench.plugins.interpret import figures
        from colorbench.plugins.interpret.itsm import analyze_itsm, open_clip_space
        from colorbench.plugins.interpret.report import itsm_report

        task = plugins.tasks.get(args.task)
        prompts = {p.id: p for p in task.prompts}
        if args.prompt is not None and args.prompt not in prompts:
            raise ColorbenchError(
                f"task {args.task!r} has no prompt {args.prompt!r}; choose one of "
                f"{', '.join(prompts)}"
            )
        prompt = prompts[args.prompt] if args.prompt else task.prompts[0]
        stimuli = plugins.stimulus_sets.get(task.stimulus_set)(
            palette=DEFAULT_PALETTE, seed=args.seed
        )
        if "object" not in stimuli.parts:
            raise ColorbenchError(
                f"task {args.task!r} runs on {task.stimulus_set!r}, which has no object mask; "
                "use a shapes task such as global-color"
            )
        samples = spread_samples(stimuli, args.samples, args.max_images)
        adapter, device = open_model(args, plugins)
        space = open_clip_space(adapter.model, adapter.preprocess, adapter.encode_texts)
        out = _out_dir(args, "itsm")
        quiet = bool(getattr(args, "quiet", False))
        with progress_bar(quiet) as progress:
            results = analyze_itsm(
                space,
                stimuli,
                samples,
                prompt.template,
                batch_size=args.batch_size,
                device=device,
                progress=progress,
            )
        write_text(out / "itsm.csv", results.per_image.to_csv(index=False))
        write_text(out / "itsm_groups.csv", results.groups.reset_index().to_csv(index=False))
        overlay = figures.itsm_overlays(results.examples, out / "itsm_overlays.png")
        meta = {
            "model": args.model,
            "task": args.task,
            "prompt": prompt.template,
            "images": len(samples),
            "device": device,
        }
        report = itsm_report(results, out, meta, {"Similarity maps": overlay})
        if not quiet:
            Console(stderr=True).print(f"itsm: wrote {report} ({len(samples)} images)")
        return 0
