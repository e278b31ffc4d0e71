"""Neural components of the hybrid model: tile-local correctors."""

from neuralogcm_hpc.neural.corrector import ConvCorrector, Normaliser, trainable_filter

__all__ = ["ConvCorrector", "Normaliser", "trainable_filter"]
