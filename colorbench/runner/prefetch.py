"""Overlap producing batch n+1 (rendering) with consuming batch n (encoding).

Rendering runs in one background thread; Pillow and torch release the GIL in their
heavy parts, so on a GPU the model never waits on the renderer and on a CPU the two
share the cores instead of taking turns.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import torch

from colorbench.runner.checkpoint import work_samples
from colorbench.stimuli.base import Batch, StimulusSet

T = TypeVar("T")
U = TypeVar("U")


def prefetch(items: Iterable[T], fn: Callable[[T], U], depth: int = 2) -> Iterator[tuple[T, U]]:
    """Yield ``(item, fn(item))`` in order, computing up to ``depth`` results ahead in a thread.

    Closing the iterator early (an error, Ctrl-C) cancels what has not started.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="colorbench-render")
    queue: deque[tuple[T, Future[U]]] = deque()
    source = iter(items)
    try:
        for item in source:
            queue.append((item, pool.submit(fn, item)))
            if len(queue) > depth:
                head, future = queue.popleft()
                yield head, future.result()
        while queue:
            head, future = queue.popleft()
            yield head, future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def rendered_batches(
    stim: StimulusSet,
    renderer: str,
    spans: Sequence[tuple[int, int]],
    device: torch.device,
) -> Iterator[Batch]:
    """The batches of ``spans`` (work index ranges, see
    :func:`~colorbench.runner.checkpoint.work_samples`), rendered ahead in a thread.

    On CUDA each batch is rendered (or copied from pinned memory) on a side stream and the
    consumer's stream waits on an event, so rendering and encoding overlap on the GPU too.
    """
    side = torch.cuda.Stream(device) if device.type == "cuda" else None

    def render(span: tuple[int, int]) -> tuple[Batch, torch.cuda.Event | None]:
        samples = work_samples(stim, *span)
        if side is None:
            return stim.render(samples, renderer, None), None
        with torch.cuda.stream(side):
            batch = stim.render(samples, renderer, device if renderer == "torch" else None)
            images = batch.images
            if images.device.type == "cpu":
                images = images.pin_memory()
            batch.images = images.to(device, non_blocking=True)
            ready = torch.cuda.Event()
            ready.record()
        return batch, ready

    stream = prefetch(spans, render)
    try:
        for _span, (batch, ready) in stream:
            if ready is not None:
                current = torch.cuda.current_stream(device)
                current.wait_event(ready)
                batch.images.record_stream(current)
            yield batch
    finally:
        stream.close()
