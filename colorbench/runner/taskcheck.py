"""What a task must agree on with its stimulus set, checked before anything runs.

A task names attributes of its stimulus set (``outcome_parts``, the part a prompt
``asks``) and statement templates with ``{c}``; when they disagree the run used to stop
deep inside pandas (``KeyError: 'shade'``) after every image was scored. :func:`task_problems`
finds each such defect from the task and one sample of its set, in one line naming the
plugin, the task and the fix. :func:`colorbench.runner.plan.build_plan` refuses a run on the
first one; ``colorbench check-plugin`` lists them all.
"""

from __future__ import annotations

from colorbench.palette import Palette
from colorbench.plugin.task import Prompt, Task
from colorbench.runner.predictions import reserved_attribute
from colorbench.stimuli.base import Sample


def sample_problems(set_name: str, sample: Sample, plugin: str) -> list[str]:
    """One line per attribute of ``sample`` whose name colorbench reserves (``answer``,
    ``score``, ``outcome``...): it would collide with a predictions column."""
    return [
        f"plugin {plugin!r} stimulus set {set_name!r}: samples have the attribute {name!r}, "
        "a name colorbench reserves for a predictions column; rename the attribute"
        for name in sorted(str(a) for a in sample.attrs if reserved_attribute(str(a)))
    ]


def task_problems(task: Task, sample: Sample, palette: Palette, plugin: str) -> list[str]:
    """One line per defect of ``task`` against ``sample`` (a sample of its stimulus set);
    the sample's own attribute names are :func:`sample_problems`."""
    where = f"plugin {plugin!r} task {task.name!r}"
    problems = []
    attrs = set(sample.attrs)
    for part in task.outcome_parts:
        if part not in attrs:
            problems.append(
                f"{where}: outcome part {part!r} is not an attribute of stimulus set "
                f"{task.stimulus_set!r} (it has: {', '.join(sorted(map(str, attrs)))}); "
                "name an attribute in outcome_parts or add it to the samples' attrs"
            )
    ids = [getattr(p, "id", None) for p in task.prompts]
    if len(set(ids)) != len(ids):
        problems.append(
            f"{where}: prompt ids repeat ({', '.join(map(str, ids))}); make them unique"
        )
    for prompt in task.prompts:
        problems += [f"{where}: {line}" for line in _prompt_problems(prompt, task, palette)]
    if not isinstance(task.version, str) or not task.version:
        problems.append(f"{where}: version must be a non-empty string such as '1'")
    return problems


def _prompt_problems(prompt: Prompt, task: Task, palette: Palette) -> list[str]:
    if not isinstance(prompt, Prompt):
        return [f"prompt {prompt!r} is not a colorbench.plugin.task.Prompt; build it with Prompt()"]
    lines = []
    try:
        texts = prompt.texts(palette)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        texts = []
        lines.append(
            f"prompt {prompt.id!r}: template {prompt.template!r} does not format with "
            f"{{c}} alone ({type(exc).__name__}: {exc}); write the colour as {{c}} and "
            "double other braces"
        )
    if texts and len(set(texts)) != len(texts):
        lines.append(
            f"prompt {prompt.id!r}: template {prompt.template!r} has no {{c}}, so every "
            "candidate text is the same; put {c} where the colour goes"
        )
    if prompt.asks is not None and prompt.asks not in task.outcome_parts:
        lines.append(
            f"prompt {prompt.id!r} asks for {prompt.asks!r}, which is not in outcome_parts "
            f"{task.outcome_parts}; add it there or set asks=None"
        )
    return lines


def task_advice(task: Task, plugin: str) -> list[str]:
    """Gaps a run survives: a task without prompts asks nothing; a prompt without a question
    cannot be put to a generative model (the run refuses it then), contrastive models still
    run it."""
    lines = []
    if not task.prompts:
        lines.append(
            f"plugin {plugin!r} task {task.name!r}: no prompts, so nothing is asked; give the "
            "task at least one Prompt"
        )
    return lines + [
        f"plugin {plugin!r} task {task.name!r}: prompt {p.id!r} has no question, so generative "
        'models cannot be asked; add Prompt(..., question="What colour is ...? Answer with '
        'one word.")'
        for p in task.prompts
        if isinstance(p, Prompt) and not (isinstance(p.question, str) and p.question.strip())
    ]
