"""Statistics over seeds, as pure functions, below both the sweep (which chooses its
confirmation runs from the screening) and the report:

    summary.py     means and sds over seeds, configurations, screening orders, the Pareto front,
                   numbers formatted by their uncertainty
    inference.py   paired tests on matched seeds, Holm's correction, power, non-inferiority
                   and dominance tests
    pooling.py     one comparison pooled over a few images (random effects, HKSJ), with the
                   prediction interval for a new image
    selection.py   how a configuration is chosen from screening runs
    hypervolume.py the hypervolume of a loss-weight search's front, its reference point
"""
from inr.stats.inference import (ALPHA, MIN_SEEDS, Comparison, compare, detectable_effect,
                                 dominance, holm, mean_interval, noninferiority,
                                 noninferiority_power, pooled_sd)
from inr.stats.summary import (Configuration, Ranking, Summary, configurations, p_text,
                               pareto_front, rank, summarize, uncertain)

__all__ = ["ALPHA", "MIN_SEEDS", "Comparison", "Configuration", "Ranking", "Summary", "compare",
           "configurations", "detectable_effect", "dominance", "holm", "mean_interval", "noninferiority",
           "noninferiority_power", "p_text",
           "pareto_front", "pooled_sd", "rank", "summarize", "uncertain"]
