"""`python -m inr.train`: the command line that trains one run (inr.cli.train_main). The training
itself lives in inr.training.loop; nothing imports this module."""
from __future__ import annotations

from inr.cli import train_main

if __name__ == "__main__":
    raise SystemExit(train_main())
