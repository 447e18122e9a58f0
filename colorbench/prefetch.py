"""Overlap producing batch n+1 (rendering) with consuming batch n (encoding).

Rendering runs in one background thread; Pillow and torch release the GIL in their
heavy parts, so on a GPU the model never waits on the renderer and on a CPU the two
share the cores instead of taking turns.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

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
