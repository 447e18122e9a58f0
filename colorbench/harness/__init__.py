"""Run colorbench's tasks inside other evaluation harnesses and bring their answers back.

``colorbench export lmms-eval|vlmevalkit`` writes a task in the harness's own format
(:mod:`colorbench.harness.lmms_eval`, :mod:`colorbench.harness.vlmevalkit`); the harness
runs the models its users already have wired; ``colorbench import`` reads what the harness
wrote per sample, joins it to the stimuli by id, classifies the answers with the task's own
rules and stores a normal colorbench result (:mod:`colorbench.harness.join`). Every row an
exporter writes carries the same :class:`~colorbench.harness.spec.ExportSpec` fields, so an
import can tell which task, stimulus grid and palette a file belongs to.
"""
