"""Dynamical core: C-grid operators, learnable parameters and the physics models."""
