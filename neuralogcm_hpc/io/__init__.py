"""Zarr outputs, verified checkpoints and graceful-stop signals."""
