"""Implicit neural representations that learn derivatives of a heat-diffused image."""
from __future__ import annotations
