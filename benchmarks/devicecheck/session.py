"""The run's settings, clock and results: one dict, rewritten to <out>/device_check.json and
<out>/device_check.md after every result, so a run cut short leaves what it measured."""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import torch

from devicecheck.common import SECTIONS, STOP, Sizes, environment
from devicecheck.report import markdown, summary
from inr.io import write_json_atomic, write_text_atomic

JSON_FILE, MARKDOWN_FILE = "device_check.json", "device_check.md"


class Session:
    """device, sizes and args of the run; `data` holds every result, by section."""

    def __init__(self, args, sizes: Sizes):
        self.device = torch.device(args.device)
        self.sizes, self.args = sizes, args
        self.out = Path(args.out)
        self.start = time.perf_counter()
        self.budget = args.budget
        self.data = {"status": "running", "tiny": args.tiny, "device": str(self.device),
                     "seconds": 0.0, "budget_s": args.budget, "args": vars(args),
                     "environment": environment(self.device), "sizes": asdict(sizes),
                     "summary": {}, **{s: {"status": "pending"} for s in SECTIONS}}

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def over_budget(self) -> bool:
        """Past --budget, or asked to stop: what has not started is skipped."""
        return self.elapsed() > self.budget or STOP["by"] is not None

    def skip_reason(self) -> str:
        return f"stopped by {STOP['by']}" if STOP["by"] else f"time budget ({self.budget:g} s)"

    def section(self, name: str) -> dict:
        return self.data[name]

    def save(self) -> None:
        self.data["seconds"] = round(self.elapsed(), 1)
        self.data["summary"] = summary(self.data)
        write_json_atomic(self.out / JSON_FILE, self.data)
        write_text_atomic(self.out / MARKDOWN_FILE, markdown(self.data))
