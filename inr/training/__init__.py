"""The training layer: losses, the optimiser, the loop, evaluation and its metrics. It imports
the data, model, config and artefacts layers (the loop writes its runs' folders), inr.io and
inr.vocabulary.

    metrics.py     SSIM, MS-SSIM (and their losses), PSNR, the relative PDE residual
    losses.py      the weighted training loss as {term: value}
    balance.py     adaptive loss balancing (loss.balance): the schemes' updates of the weights
    optim.py       Adam with one lr per ensemble member
    evaluate.py    full-frame predictions and each model's metric record
    loop.py        train / train_ensemble and TrainingLoop, the only state of the suite
    allocator.py   the allocator setting for training
"""
from __future__ import annotations
