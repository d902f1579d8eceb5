"""The universality chapter: scaling-law fits to the Chinchilla losses and the optimal shape and
compute frontier they imply (Liu and Gore, arXiv 2606.25008)."""
