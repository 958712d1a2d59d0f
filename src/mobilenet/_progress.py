"""Progress bars: one way (tqdm) for every command that runs long (classify, bench, profile)."""
from __future__ import annotations

import sys
from typing import Any, Optional, TextIO

# A bar appears once the work has taken this long: a short run prints nothing extra.
PROGRESS_DELAY_SECONDS = 1.0


def progress_bar(total: int, desc: str, show: Optional[bool] = None, stream: Optional[TextIO] = None,
                 unit: str = "run", initial: int = 0) -> Any:
    """A tqdm progress bar on stream (default stderr), a context manager; ``update(n)`` counts.

    show: True or False forces it (``--progress``, ``--no-progress``); None shows it when the
    stream is a terminal, once the work has taken more than about a second. A disabled bar
    (``bar.disable``) draws nothing and costs next to nothing.
    """
    from tqdm import tqdm
    stream = sys.stderr if stream is None else stream
    if show is None:
        show = bool(getattr(stream, "isatty", lambda: False)())
        delay = PROGRESS_DELAY_SECONDS
    else:
        delay = 0.0
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, file=stream, disable=not show, delay=delay,
                dynamic_ncols=True)
