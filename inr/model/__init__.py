"""The model layer: coordinate MLPs with their initialisations, and their derivatives (the fused
kernel, the eager forward jet, nested autograd). It imports only inr.vocabulary and inr.io.

    networks.py      sine (SIREN), ELU, Gaussian and FINER networks as batched ensembles
    derivatives.py   value, gradient, Laplacian and dt of a network, by one of three methods
    fused_jet.py     the compiled kernel of the default method (fused_jet.cpp), built on use
"""
from __future__ import annotations
