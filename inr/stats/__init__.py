"""Statistics over seeds, as pure functions, below both the sweep (which chooses its
confirmation runs from the screening) and the report:

    summary.py     means and sds over seeds, configurations, screening orders, the Pareto front,
                   numbers formatted by their uncertainty
    inference.py   paired tests on matched seeds, Holm's correction, power, equivalence and
                   dominance tests
    selection.py   how a configuration is chosen from screening runs
"""
from inr.stats.inference import (ALPHA, MIN_SEEDS, Comparison, compare, detectable_effect,
                                 dominance, equivalence, holm, pooled_sd)
from inr.stats.summary import (Configuration, Ranking, Summary, configurations, p_text,
                               pareto_front, rank, summarize, uncertain)

__all__ = ["ALPHA", "MIN_SEEDS", "Comparison", "Configuration", "Ranking", "Summary", "compare",
           "configurations", "detectable_effect", "dominance", "equivalence", "holm", "p_text",
           "pareto_front", "pooled_sd", "rank", "summarize", "uncertain"]
