"""Progress reporting for long native calls: a tqdm bar when tqdm is installed, else lines on
stderr."""
from __future__ import annotations

import sys
from typing import Callable, Optional


def progress_callback(description: str, enabled: bool) -> Optional[Callable[[int, int], None]]:
    """Returns a callback (done, total) that reports progress, or None when disabled. Call the
    returned object's ``close`` (if present) when the work ends."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None

    if tqdm is not None:
        state = {}

        def report(done: int, total: int) -> None:
            bar = state.get("bar")
            if bar is None:
                bar = state["bar"] = tqdm(total=total, desc=description, unit="subspace")
            bar.update(done - bar.n)
            if done >= total:
                bar.close()

        return report

    def report_plain(done: int, total: int) -> None:
        print(f"{description}: {done}/{total}", file=sys.stderr, flush=True)

    return report_plain
