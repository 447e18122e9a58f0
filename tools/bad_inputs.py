"""Try every bad input issue 8 lists and write what the user sees to docs/ERRORS.md.

Run from the repository root: ``python tools/bad_inputs.py``. Each case runs the real
``colorbench`` command in a subprocess, in a scratch directory, and records its exit code
and its output (ANSI codes stripped). The table is evidence, not prose: regenerate it
after changing a message.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import textwrap
from contextlib import ExitStack
from pathlib import Path

import hostile_inputs
import torch
from PIL import Image

from colorbench.plugins.hfvlm.tiny import HOSTILE, hostile_folder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import served_support  # noqa: E402
from plugins_support import EXTRA_TASK  # noqa: E402

ANSI = re.compile(r"\x1b\[[0-9;]*m")

PLUGINS = {
    "broken_import.py": "raise ImportError('numpy.fake is missing')\n",
    "raising_hook.py": """
        import colorbench

        @colorbench.hookimpl
        def colorbench_register_models(register):
            raise RuntimeError("could not reach the model catalogue")
    """,
    "duplicate_id.py": """
        import colorbench

        @colorbench.hookimpl
        def colorbench_register_models(register):
            register("ideal-observer", lambda model_id, **options: None)
    """,
    # a task plugin with one defect of each kind check-plugin knows (issue 24)
    "broken_task.py": """
        import colorbench
        from colorbench.plugin.task import Prompt, Task
        from colorbench.stimuli.shapes import ShapesSet

        class AnswerShapes(ShapesSet):
            name = "answer-shapes"
            def sample(self, combination, sample):
                s = super().sample(combination, sample)
                s.attrs["answer"] = "mine"
                return s

        class Shade(Task):
            name = "shade"
            stimulus_set = "shapes"
            outcome_parts = ("object", "shade")
            prompts = (Prompt("bare", "the shape", asks="object", question="What color?"),)
            def summarize(self, predictions, palette):
                raise NotImplementedError

        @colorbench.hookimpl
        def colorbench_register_stimulus_sets(register):
            register("answer-shapes", AnswerShapes)

        @colorbench.hookimpl
        def colorbench_register_tasks(register):
            register(Shade())

        @colorbench.hookimpl
        def colorbench_register_models(register):
            register("no-options", lambda model_id: None)
    """,
    # analyses check-plugin cannot run: options that do not parse, a crash (issue 24)
    "broken_analysis.py": """
        import colorbench
        from colorbench.plugin.analysis import Analysis

        class Needs(Analysis):
            name = "needs-model"
            description = "declares a required --model but no check_args"
            def add_arguments(self, parser):
                parser.add_argument("--model", required=True)
            def run(self, args, plugins):
                return 0

        class Crashes(Needs):
            name = "crashes"
            check_args = ("--model", "random-RN50")
            def run(self, args, plugins):
                return {}["layer9"]

        @colorbench.hookimpl
        def colorbench_register_analyses(register):
            register(Needs())
            register(Crashes())
    """,
}


class HostilePickle:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def make_fixtures(work: Path) -> dict[str, str]:
    """Plugin modules, checkpoints, folders and results the cases below point at."""
    plugins = work / "plugins"
    plugins.mkdir()
    for name, body in {**PLUGINS, "extra_task.py": EXTRA_TASK}.items():
        (plugins / name).write_text(textwrap.dedent(body))
    torch.save({"evil": HostilePickle(work / "PWNED")}, work / "hostile.pt")
    torch.save({"visual.conv1.weight": torch.zeros(3, 3)}, work / "wrong-shape.pt")
    full = work / "full.pt"
    torch.save({"w": torch.zeros(10_000)}, full)
    (work / "truncated.pt").write_bytes(full.read_bytes()[:2000])
    images = work / "images"
    images.mkdir()
    (images / "notes.txt").write_text("not an image")
    (images / "broken.png").write_bytes(b"\x89PNG not really")
    Image.new("RGB", (64, 64), (200, 30, 30)).save(images / "red.png")
    results = work / "results" / "some-model" / "global-color"
    results.mkdir(parents=True)
    (results / "summary.json").write_text("{not json")
    (work / "results" / "README.txt").write_text("a foreign file")
    (work / "bert").mkdir()
    (work / "bert" / "config.json").write_text('{"model_type": "bert"}')
    (work / "empty-cache").mkdir()
    for kind in HOSTILE:
        hostile_folder(work / f"hostile-{kind}", kind, work / "PWNED")
    _harness_logs(work)
    return {"plugins": str(plugins), "work": str(work)}


def _harness_logs(work: Path) -> None:
    """lmms-eval samples logs of a stroop-white export: one line that does not join to the
    stimuli, and the same cut off mid-record."""
    import json

    from colorbench.palette import DEFAULT_PALETTE

    payload = {
        "sample_id": "stroop-white/999/0",
        "prompt": "font",
        "colorbench_task": "stroop-white",
        "samples": 1,
        "seed": 0,
        "palette": DEFAULT_PALETTE.fingerprint(),
    }
    line = json.dumps({"doc_id": 0, "filtered_resps": "Red.", "colorbench_headline": payload})
    (work / "samples.jsonl").write_text(line + "\n")
    (work / "truncated.jsonl").write_text(line + "\n" + line[:60])


CASES: list[tuple[str, str]] = [
    ("unknown model", "colorbench run --model openai-RN5 --task all"),
    ("unknown model, nothing close", "colorbench run --model nonsense --task all"),
    ("unknown task", "colorbench run --model ideal-observer --task stroop-whte"),
    ("unknown analysis", "colorbench analyze neuron --model random-RN50"),
    ("--samples 0", "colorbench run --model ideal-observer --task stroop-white --samples 0"),
    ("--samples negative", "colorbench run --model ideal-observer --task all --samples -3"),
    ("--target-ci 0", "colorbench run --model ideal-observer --task all --target-ci 0"),
    ("--target-ci too small", "colorbench run --model chance --task all --target-ci 0.01"),
    ("--stop-early alone", "colorbench run --model chance --task stroop-white --stop-early"),
    ("--samples absurd", "colorbench run --model ideal-observer --task all --samples 1000000000"),
    ("--samples not a number", "colorbench run --model ideal-observer --task all --samples ten"),
    (
        "--device cuda without a GPU",
        "colorbench run --model ideal-observer --task all --device cuda",
    ),
    ("missing weights", "colorbench run --model openai-RN50 --task stroop-white"),
    (
        "--weights file that does not exist",
        "colorbench run --model openai-RN50 --task stroop-white --weights nope.pt",
    ),
    (
        "checkpoint that runs code when unpickled",
        "colorbench run --model openai-RN50 --task stroop-white --weights {work}/hostile.pt",
    ),
    (
        "truncated checkpoint",
        "colorbench run --model openai-RN50 --task stroop-white --weights {work}/truncated.pt",
    ),
    (
        "wrong-shaped checkpoint",
        "colorbench run --model openai-RN50 --task stroop-white --weights {work}/wrong-shape.pt",
    ),
    ("plugin that fails to import", "colorbench -p broken_import list tasks"),
    ("plugin whose hook raises", "colorbench -p raising_hook list tasks"),
    ("two plugins register the same id", "colorbench -p duplicate_id list models"),
    ("a broken task plugin, checked", "colorbench -p broken_task check-plugin broken_task -q"),
    (
        "a task whose outcome part no attribute provides",
        "colorbench -p broken_task run --model chance --task shade --out {work}/r",
    ),
    (
        "a model factory without **options",
        "colorbench -p broken_task run --model no-options --task stroop-white --out {work}/r",
    ),
    (
        "a broken analysis plugin, checked",
        "colorbench -p broken_analysis check-plugin broken_analysis -q",
    ),
    (
        "unfinished work of a task whose plugin was uninstalled since",
        "COLORBENCH_FAKE_DELAY=1 timeout --preserve-status -s INT 11 colorbench -p fake_support"
        " -p extra_task run --model fake-majority --task fake-global --task fake-extra"
        " --samples 20 --batch-size 256 -q --out {work}/gone; colorbench -p fake_support run"
        " --model fake-majority --task fake-global --samples 20 --out {work}/gone -q",
    ),
    (
        "--images folder that cannot be read",
        "colorbench analyze neurons --model random-RN50 --images {work}/no-such-folder",
    ),
    ("unknown --csi-gray", "colorbench analyze neurons --model random-RN50 --csi-gray lab"),
    (
        "non-image files in --images",
        "colorbench analyze neurons --model random-RN50 --images {work}/images --layers layer4"
        " --top-k 4 --max-images 20 --quiet --out {work}/neurons",
    ),
    (
        "malformed and foreign files in the results",
        "colorbench leaderboard --results {work}/results --out {work}/board.md",
    ),
    ("generate with --samples 0", "colorbench generate shapes --samples 0 --out {work}/gen"),
    (
        "hf-vlm repo not in the Hugging Face cache",
        "HF_HUB_CACHE={work}/empty-cache colorbench run --model hf-vlm:Qwen/Qwen2.5-VL-3B-Instruct"
        " --task stroop-white --out {work}/o",
    ),
    (
        "hf-vlm folder that does not exist",
        "colorbench run --model hf-vlm:{work}/nowhere --task stroop-white --out {work}/o",
    ),
    (
        "hf-vlm folder of an unsupported architecture",
        "colorbench run --model hf-vlm:{work}/bert --task stroop-white --out {work}/o",
    ),
    *(
        (
            f"hf-vlm folder with {what}",
            f"colorbench run --model hf-vlm:{{work}}/hostile-{kind} --task stroop-white"
            " --out {work}/o",
        )
        for kind, what in HOSTILE.items()
    ),
    (
        "--weights for an hf-vlm model",
        "colorbench run --model hf-vlm-tiny-llava --weights {work}/full.pt --task stroop-white"
        " --out {work}/o",
    ),
    (
        "unknown scoring mode",
        "colorbench run --model hf-vlm-tiny-llava --scoring logits --task stroop-white"
        " --out {work}/o",
    ),
    (
        "export into a folder that is not empty",
        "colorbench export lmms-eval --task stroop-white --out {work}/images",
    ),
    (
        "import a truncated lmms-eval samples log",
        "colorbench import lmms-eval {work}/truncated.jsonl --model m --task stroop-white"
        " --out {work}/imported",
    ),
    (
        "import a file of the other harness",
        "colorbench import vlmevalkit {work}/samples.jsonl --model m --task stroop-white"
        " --out {work}/imported",
    ),
    (
        "import a log of another task",
        "colorbench import lmms-eval {work}/samples.jsonl --model m --task stroop-colored"
        " --out {work}/imported",
    ),
    (
        "import rows that do not join to the stimuli",
        "colorbench import lmms-eval {work}/samples.jsonl --model m --task stroop-white"
        " --out {work}/imported",
    ),
    (
        "served endpoint that is not reachable",
        "colorbench run --model served:some-vlm@http://127.0.0.1:9/v1 --task stroop-white"
        " --out {work}/o",
    ),
    (
        "served model name the server does not serve",
        "colorbench run --model served:other-vlm@{stub}/ok/v1 --task stroop-white --out {work}/o",
    ),
    (
        "served endpoint that wants an API key (401)",
        "colorbench run --model served:stub-model@{stub}/auth/v1 --task stroop-white"
        " --out {work}/o",
    ),
    (
        "served endpoint refusing the key (401)",
        "WRONG_KEY=nope colorbench run --model served:stub-model@{stub}/auth/v1"
        " --api-key-env WRONG_KEY --task stroop-white --out {work}/o",
    ),
    (
        "served endpoint answering non-JSON",
        "colorbench run --model served:stub-model@{stub}/nonjson/v1 --task stroop-white"
        " --out {work}/o",
    ),
    (
        "served endpoint answering without a choice",
        "colorbench run --model served:stub-model@{stub}/empty/v1 --task stroop-white"
        " --out {work}/o",
    ),
    (
        "--api-key-env naming a variable that is not set",
        "colorbench run --model served:stub-model@{stub}/ok/v1 --api-key-env NO_SUCH_KEY_VAR"
        " --task stroop-white --out {work}/o",
    ),
    (
        "--scoring likelihood for a served model",
        "colorbench run --model served:stub-model@{stub}/ok/v1 --scoring likelihood"
        " --task stroop-white --out {work}/o",
    ),
    (
        "--scoring likelihood, server rejects prompt_logprobs (422)",
        "colorbench run --model served:stub-model@{stub}/strict/v1 --scoring likelihood"
        " --task stroop-white --out {work}/o",
    ),
    (
        "--scoring likelihood, server closes the assistant turn",
        "colorbench run --model served:stub-model@{stub}/closed/v1 --scoring likelihood"
        " --task stroop-white --out {work}/o",
    ),
]


def run_case(command: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    done = subprocess.run(
        command, shell=True, env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )
    text = ANSI.sub("", (done.stderr + done.stdout).strip())
    return done.returncode, text


def cell(text: str, limit: int = 8) -> str:
    """colorbench's own lines (errors and warnings), else the first lines of the output."""
    lines = [line for line in text.splitlines() if line.strip()]
    own = [line for line in lines if line.startswith("colorbench:")]
    shown = own or lines
    return (
        "<br>".join(
            "`" + line.replace("|", "\\|").replace("`", "'") + "`" for line in shown[:limit]
        )
        or "(nothing)"
    )


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as mounts:
        work = Path(tmp)
        fixtures = make_fixtures(work)
        fixtures |= hostile_inputs.make_fixtures(work, Path(fixtures["plugins"]), mounts)
        stub = served_support.Stub()  # an OpenAI-compatible stub with known faults
        mounts.callback(stub.close)
        fixtures["stub"] = stub.url("").removesuffix("//v1")
        victim = hostile_inputs.fingerprint(work / "victim")
        path = os.pathsep.join([fixtures["plugins"], str(ROOT / "tests")])
        env = dict(os.environ, PYTHONPATH=path, COLUMNS="200", HF_HUB_OFFLINE="1")
        rows = []
        for label, template in CASES + hostile_inputs.CASES:
            command = hostile_inputs.command(template, fixtures)
            code, text = run_case(command, env, work)
            shown = command.replace(str(work), "$TMP").replace("|", "\\|")
            rows.append(
                f"| {label} | `{shown}` | {code} | {cell(text.replace(str(work), '$TMP'))} |"
            )
            print(f"{code:>3}  {label}", file=sys.stderr)
        pwned = (work / "PWNED").exists()
        touched = hostile_inputs.fingerprint(work / "victim") != victim
    body = "\n".join(rows)
    (ROOT / "docs" / "ERRORS.md").write_text(
        "# Bad input and what the user sees\n\n"
        "Generated by `python tools/bad_inputs.py`, which runs each command for real in a\n"
        "scratch directory (plugin modules on `PYTHONPATH`, hand-made checkpoints, folders and\n"
        "results; the hostile results folders and misbehaving plugins of issue 16 are in\n"
        "`tools/hostile_inputs.py`). Exit code 2 is a user error; 0 means the command went on\n"
        "and warned; 130 is an interrupt.\n\n"
        f"The hostile checkpoint's code {'RAN (bug!)' if pwned else 'did not run'}: its marker "
        "file was " + ("created" if pwned else "never created") + ".\n"
        "The `victim` folder outside every `--out` (the target of the planted `.lock` symlink "
        "and of the `../../../victim` stimulus set) was "
        + ("CHANGED (bug!)" if touched else "left byte-identical")
        + " by all the cases below.\n\n"
        "| bad input | command | exit | output (first lines) |\n|---|---|---|---|\n"
        f"{body}\n"
    )
    return 1 if pwned or touched else 0


if __name__ == "__main__":
    raise SystemExit(main())
