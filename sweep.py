#!/usr/bin/env python
"""Sweep driver: python sweep.py --random-weights 100, then tensorboard --logdir runs.

Thin on purpose: the options are in inr/cli.py, planning and execution in inr/sweep/, the report
in inr/report/. `python sweep.py --help` explains every option.
"""
import sys

from inr.cli import main

if __name__ == "__main__":
    sys.exit(main())
