"""Training of the hybrid model: data, normalisation, losses, the loop, evaluation."""
