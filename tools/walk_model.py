"""Walk ``--model`` from the command line to the adapter, with ``sys.settrace``.

Run from the repository root: ``python tools/walk_model.py [MODEL_ID]`` (default
``ideal-observer``). It runs ``colorbench run --model MODEL_ID --task stroop-white`` in this
process and records every call into colorbench's own files (``colorbench/``, ``plugins/``,
``tasks/``) whose arguments carry the model id: the id itself, a list of ids, or an object
with the id in an attribute (two levels deep: ``plan.models[0].id``). The walk ends at the
first such call in ``colorbench/plugin/adapter.py``, where what the factory returned is checked.

It prints each step (file, function) and, per step, whether it enters a file the walk had
already left: the count of those is what "touches each file once, in order" means.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOURCES = tuple(str(ROOT / folder) + "/" for folder in ("colorbench", "plugins", "tasks"))
END = str(ROOT / "colorbench" / "plugin" / "adapter.py")


def carries(value: Any, model_id: str, depth: int = 2) -> bool:
    """Whether ``value`` is the id object given on the command line (identity, not equality:
    a plugin registering the same id string is not this walk), holds it in a list, or has it
    in an attribute."""
    if isinstance(value, str):
        return value is model_id
    if isinstance(value, list | tuple):
        return any(carries(v, model_id, depth) for v in value[:50])
    if depth and hasattr(value, "__dict__") and not isinstance(value, type):
        return any(carries(v, model_id, depth - 1) for v in vars(value).values())
    return False


def walk(model_id: str) -> list[tuple[str, str]]:
    """The (file, function) calls that carry ``model_id``, from the CLI to the adapter."""
    from colorbench.cli.app import main

    steps: list[tuple[str, str]] = []

    class Done(Exception):
        pass

    def tracer(frame: FrameType, event: str, arg: object) -> None:
        path = frame.f_code.co_filename
        if event != "call" or not path.startswith(SOURCES):
            return None
        code = frame.f_code
        names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        if any(carries(frame.f_locals.get(n), model_id) for n in names):
            steps.append((str(Path(path).relative_to(ROOT)), code.co_qualname))
            if path == END:
                raise Done
        return None

    model_id = "".join(list(model_id))  # a string object of its own, as argv's would be
    with tempfile.TemporaryDirectory() as out:
        argv = ["run", "--model", model_id, "--task", "stroop-white", "--out", out, "-q"]
        sys.settrace(tracer)
        try:
            main(argv)
        except Done:
            pass
        finally:
            sys.settrace(None)
    return steps


def report(steps: list[tuple[str, str]]) -> str:
    """One line per step; ``<- back`` marks a step into a file the walk had already left."""
    lines, left, previous = [], set(), None
    back = 0
    for number, (path, function) in enumerate(steps, 1):
        again = path != previous and path in left
        back += again
        lines.append(f"{number:3d}  {path:32s} {function}{'   <- back' if again else ''}")
        if previous is not None and path != previous:
            left.add(previous)
        previous = path
    files = list(dict.fromkeys(p for p, _ in steps))
    lines.append(
        f"{len(steps)} steps, {len(files)} files, {back} steps back into a file already left"
    )
    lines.append("files in order: " + " -> ".join(files))
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(walk(sys.argv[1] if len(sys.argv) > 1 else "ideal-observer")))
