"""neuralogcm_hpc: distributed, differentiable, hybrid ocean GCM in JAX."""
