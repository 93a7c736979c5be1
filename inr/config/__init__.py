"""The config layer: a run's whole configuration as dataclasses (saved beside every run, enough
to reproduce it), its loss weights and learning-rate schedule, and the profiles. It imports the
data and model layers (for the names they accept), inr.io and inr.vocabulary, and passes on
what the layers that may not import those name of them: an image's label (inr.data.image_label),
an activation's scale symbol and display name (inr.model.networks.scale_symbol, display_name).

    run.py        RunConfig and its sections, validation, JSON/TOML, the profiles
    weights.py    LossWeights, their normalisation and effective weights, vectors up to scale
    schedule.py   Schedule: learning-rate schedules in optimiser steps, and their lr at a step
"""
from __future__ import annotations

from inr.config.run import (BATCH_KINDS, DEFAULT_IMAGE, DTYPES, MATMUL_PRECISIONS, PROFILES,
                            REPO_ROOT, DataConfig, ModelConfig, OutputConfig, RunConfig,
                            TrainConfig, default_profile, profile_config, read_config_file)
from inr.config.schedule import Schedule
from inr.config.weights import NORMALIZATIONS, LossWeights, effective_weights, up_to_scale
from inr.data import image_label
from inr.model.networks import display_name, scale_symbol

__all__ = ["BATCH_KINDS", "DEFAULT_IMAGE", "DTYPES", "MATMUL_PRECISIONS", "NORMALIZATIONS",
           "PROFILES", "REPO_ROOT", "DataConfig", "LossWeights", "ModelConfig", "OutputConfig",
           "RunConfig", "Schedule", "TrainConfig", "default_profile", "display_name",
           "effective_weights", "image_label", "profile_config", "read_config_file",
           "scale_symbol", "up_to_scale"]
