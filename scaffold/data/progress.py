"""A progress indicator for slow steps whose length we cannot know (e.g. parsing OpenML's ARFF)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def elapsed(desc: str) -> Iterator[None]:
    """Show ``desc: <elapsed time>`` on a terminal, refreshed twice a second, while the block runs."""
    from tqdm.auto import tqdm

    bar = tqdm(desc=desc, bar_format="{desc}: {elapsed}", disable=None)
    stop = threading.Event()

    def tick() -> None:
        # The work runs in C code (parsing, downloading) that never updates the bar; time does.
        while not stop.wait(0.5):
            bar.refresh()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        bar.close()
