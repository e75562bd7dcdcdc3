"""Randomness: one convention for the whole package (numpy only).

Every function that draws takes a keyword-only ``random_state`` (``None``, an int or a
``numpy.random.Generator``), resolved once by :func:`check_random_state`. Seeds for the parts
of a larger run (a round's selection, its training, a committee member) are derived from one
base seed with :func:`derive_seed`, through ``numpy.random.SeedSequence``: the derived seeds are
independent streams, and the same base seed and keys always give the same seed (no arithmetic
such as ``seed + 1000 * round`` whose streams can collide).
"""

from __future__ import annotations

import zlib

import numpy as np

#: Derived seeds lie in [0, 2**31): what every consumer (numpy, torch, Ultralytics) accepts.
_SEED_BOUND = 2**31


def check_random_state(random_state=None) -> np.random.Generator:
    """A ``numpy.random.Generator`` from ``random_state``: ``None`` (fresh entropy), an int
    seed, a ``SeedSequence`` or a ``Generator`` (returned as it is, so draws continue its
    stream). Anything else raises ``TypeError``."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is not None and not isinstance(
            random_state, (int, np.integer, np.random.SeedSequence)):
        raise TypeError(f"random_state must be None, an int or a numpy Generator, got "
                        f"{type(random_state).__name__}")
    return np.random.default_rng(random_state)


def _key(part: int | str) -> int:
    if isinstance(part, str):
        return zlib.crc32(part.encode())
    if int(part) < 0:
        raise ValueError(f"seed keys must be >= 0, got {part}")
    return int(part)


def derive_seed(random_state: int, *keys: int | str) -> int:
    """An int seed in [0, 2**31) for one part of a run, from a base seed and keys naming the
    part (for example ``derive_seed(0, "select", 3)`` for round 3's selection):
    ``SeedSequence([random_state, *keys]).generate_state(1)``; strings enter as their CRC-32.

    The same arguments always give the same seed; different keys give independent streams.
    """
    if random_state is None or isinstance(random_state, np.random.Generator):
        raise TypeError("derive_seed needs an int base seed (the run's random_state)")
    entropy = [_key(random_state), *(_key(k) for k in keys)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0] % _SEED_BOUND)
