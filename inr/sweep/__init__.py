"""The sweep layer: experiments as data, planned into runs, trained in stages by an engine. It
imports the training, artefacts, config, data and model layers, inr.stats and inr.vocabulary.

    experiments.py   experiment files (TOML), read and checked
    weights.py       the random loss-weight draws
    planning.py      experiments -> planned runs with their places in the output tree
    engine.py        the local engines (batched, sequential), resume, the process pool
    stages.py        screening, then confirmation of the chosen configurations
    search.py        loss-weight search: Optuna's samplers ask in batches, the engine trains
    comparison.py    after a search: each strategy's best vector against adaptive balancing
    ray_backend.py   the same on a Ray cluster
    ray_search.py    the search on a Ray cluster, through Ray Tune's OptunaSearch
"""
from __future__ import annotations
