"""``--model`` travels from the command line to the adapter through each file once, in order."""

from __future__ import annotations

import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "walk_model.py"


def load_tool():
    spec = importlib.util.spec_from_file_location("walk_model", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_model_id_is_resolved_once_and_never_goes_back_to_a_file():
    tool = load_tool()
    steps = tool.walk("ideal-observer")
    files = [path for path, _ in steps]
    runs = [f for i, f in enumerate(files) if i == 0 or files[i - 1] != f]
    assert len(runs) == len(set(runs)), tool.report(steps)  # each file one stretch
    assert runs[0] == "colorbench/cli/app.py" and runs[-1] == "colorbench/plugin/adapter.py"
    assert runs.index("colorbench/runner/plan.py") < runs.index("colorbench/runner/engine.py")
    assert [f for f in steps if f[1] == "Registry.resolve"] == [
        ("colorbench/plugin/registry.py", "Registry.resolve")
    ]  # resolved once, by the plan
