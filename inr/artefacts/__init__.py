"""The artefacts layer: what a run leaves behind and where. It imports the config layer, the
model layer (to load a run's network), inr.io and inr.vocabulary.

    tree.py      the output tree (runs/, videos/, results/, ray_results/, the lock) and run names
    rundir.py    one run's folder: its record (metrics.json), checkpoint, flat row
    outputs.py   what a run shows: TensorBoard scalars, panels, the HParams row, its video
    tblog.py, panels.py, video.py   TensorBoard helpers, 2 x 4 panels, MP4/GIF
"""
from __future__ import annotations
