"""The README's promises: its two set-up commands are the ones CI runs, its links resolve."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _setup_commands() -> list[str]:
    """The bash blocks of the README's first screen (before the first horizontal rule)."""
    first_screen = README.split("\n---\n", 1)[0]
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", first_screen, re.S)]


def test_first_screen_has_exactly_two_setup_commands_and_ci_runs_them_verbatim() -> None:
    commands = _setup_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    for command in commands:
        assert command in ci


def test_relative_links_resolve() -> None:
    targets = re.findall(r"\]\(((?!https?://)[^)#]+)\)", README)
    assert targets
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing
