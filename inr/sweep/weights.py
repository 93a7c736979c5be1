"""The loss-weight vectors of a random-weights sweep: the random draws, distinct up to scale
(inr.config.weights.up_to_scale), beside the reference vectors (inr.vocabulary) that every such
sweep trains."""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import numpy as np

from inr.config import up_to_scale
from inr.vocabulary import REFERENCE_WEIGHTS

MAX_WEIGHT_DRAWS = 100_000  # attempts before giving up on finding N distinct vectors


def reference_name(vector: Sequence[float]) -> str | None:
    """Which reference vector `vector` is, up to scale; None for any other."""
    form = up_to_scale(vector)
    return next((n for n, v in REFERENCE_WEIGHTS.items() if up_to_scale(v) == form), None)


def random_weight_vectors(count: int, choices: Iterable[float], seed: int,
                          exclude: Iterable[Sequence[float]] = ()
                          ) -> list[tuple[float, ...]]:
    """`count` (pixel, grad, Laplacian, dt) vectors drawn from `choices`, none all zero, no two
    equal up to scale, none equal up to scale to a vector of `exclude`."""
    choices = [float(c) for c in choices]
    taken = {up_to_scale(v) for v in exclude}
    forms = {up_to_scale(v) for v in itertools.product(choices, repeat=4) if any(v)} - taken
    if count < 1:
        raise ValueError(f"the number of random weight vectors must be at least 1, got {count}")
    if count > len(forms):
        raise ValueError(f"asked for {count} random weight vectors, but {choices} give only "
                         f"{len(forms)} distinct up to scale"
                         + (" besides the reference vectors" if taken else ""))
    rng = np.random.default_rng(seed)
    drawn: list[tuple[float, ...]] = []
    for _ in range(MAX_WEIGHT_DRAWS):
        vector = tuple(float(v) for v in rng.choice(choices, size=4))
        if any(vector) and up_to_scale(vector) not in taken:
            taken.add(up_to_scale(vector))
            drawn.append(vector)
            if len(drawn) == count:
                return drawn
    raise ValueError(f"could not draw {count} distinct weight vectors")
