"""Named pause points for kill-and-resume tests; nothing happens unless a test asks for one.

A test that kills a run and resumes it must kill it at a known point, not after a sleep (on a
loaded machine a sleep ends anywhere). alkit calls :func:`pause_point` at the points where a
killed run must lose nothing: after a step is committed, after a shard is renamed into place.
With ``ALKIT_TEST_PAUSE_AT`` unset, which is always the case outside tests, a call only reads
that variable.

``ALKIT_TEST_PAUSE_AT=<point>[@<n>]`` makes the process that reaches ``<point>`` for the
``n``-th time (default 1; counted per process) write the marker file
``$ALKIT_TEST_PAUSE_DIR/<point>.<pid>`` (its text: the pid) and then wait until the file
``$ALKIT_TEST_PAUSE_DIR/release`` exists. The test waits for the marker, then kills the process
(SIGKILL) or creates ``release``; tests/pausing.py has the test side.

===================  ==========================================================================
point                reached
===================  ==========================================================================
``scoring.shard``    a scoring shard was renamed into place (``ShardCache.add``,
                     :mod:`alkit.model.records`)
``ray.block``        the Ray driver wrote a block shard (:mod:`alkit.model.distributed`)
``ray.actor_batch``  a Ray scoring actor scored a batch and is about to return it (in the
                     actor's process: the driver forwards both variables to its actors)
``round.<status>``   a round's new status was committed (:mod:`alkit.loop.ledger`):
                     ``round.selecting``, ``round.staged``, ``round.annotating``,
                     ``round.training``, ``round.done``
``label.recorded``   a new label was committed to the ledger
``monitor.batch``    a monitored production batch was committed to the ledger
``audit.recorded``   a label audit was committed to the ledger
``label.replaced``   a corrected label was committed to the ledger, its file not yet rewritten
===================  ==========================================================================
"""

from __future__ import annotations

import os
import time
from pathlib import Path

#: The variable naming the point to pause at: ``<point>`` or ``<point>@<n>``.
PAUSE_AT = "ALKIT_TEST_PAUSE_AT"
#: The folder of the marker files and of the ``release`` file.
PAUSE_DIR = "ALKIT_TEST_PAUSE_DIR"

_reached: dict[str, int] = {}


def pause_point(name: str) -> None:
    """Pause here when ``ALKIT_TEST_PAUSE_AT`` names ``name`` and this is the n-th time this
    process reaches it (see the module docstring); otherwise return at once.

    Args:
        name: the point's name, one of the module docstring's table.
    """
    spec = os.environ.get(PAUSE_AT)
    if not spec:
        return
    point, _, nth = spec.partition("@")
    if point != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] != int(nth or 1):
        return
    folder = Path(os.environ[PAUSE_DIR])
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / f"{name}.{os.getpid()}"
    part = folder / f".{marker.name}.part"
    part.write_text(str(os.getpid()))
    os.replace(part, marker)  # whole, so the test reads the whole pid
    while not (folder / "release").exists():
        time.sleep(0.1)


def forwarded_env() -> dict[str, str]:
    """The pause variables that are set (name -> value), for processes that do not inherit
    this one's environment (Ray actors); empty when no pause is asked for."""
    return {k: os.environ[k] for k in (PAUSE_AT, PAUSE_DIR) if os.environ.get(k)}
