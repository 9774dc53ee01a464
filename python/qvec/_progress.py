"""Progress reporting for long native calls: a tqdm bar when tqdm is installed, else lines on
stderr."""
from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Dict, Optional

ProgressCallback = Callable[[int, int], None]


def progress_callback(description: str, enabled: bool,
                      unit: str = "step") -> Optional[ProgressCallback]:
    """Returns a callback (done, total) that reports progress, or None when disabled. A tqdm
    bar closes itself when done reaches total."""
    if not enabled:
        return None
    tqdm: Any
    try:  # an optional dependency without type information
        tqdm = importlib.import_module("tqdm.auto").tqdm
    except ImportError:
        tqdm = None

    if tqdm is not None:
        state: Dict[str, Any] = {}

        def report(done: int, total: int) -> None:
            bar = state.get("bar")
            if bar is None:
                bar = state["bar"] = tqdm(total=total, desc=description, unit=unit)
            bar.update(done - bar.n)
            if done >= total:
                bar.close()

        return report

    def report_plain(done: int, total: int) -> None:
        print(f"{description}: {done}/{total}", file=sys.stderr, flush=True)

    return report_plain
