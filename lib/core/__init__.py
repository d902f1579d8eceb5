"""Shared mechanisms: parameters, devices, batched training, fits, results, plots, claims."""
