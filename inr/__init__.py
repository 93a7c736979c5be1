"""Implicit neural representations that learn derivatives of a heat-diffused image."""
