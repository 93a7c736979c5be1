#!/usr/bin/env python
"""Sweep driver: python sweep.py --random-weights 100, then tensorboard --logdir runs.

Thin on purpose: planning is in inr/experiments.py, execution in inr/sweep.py, the report in
inr/report.py. `python sweep.py --help` explains every option.
"""
import sys

from inr.cli import main

if __name__ == "__main__":
    sys.exit(main())
