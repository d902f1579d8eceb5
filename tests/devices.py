"""The devices a device-parametrised test runs on: ``TEST_DEVICES`` (comma separated), by default
the CPU and, when a GPU is present, CUDA. One test body checks both::

    @on_devices
    def test_member_equals_model_alone(device): ...

Run only the CUDA cases on a GPU machine with ``pytest -k cuda``. Tolerances on CUDA are looser
(:func:`tol`): its kernels sum in other orders; TF32 stays off (PyTorch's default for float32
matmuls), so float32 is compared with float32.
"""

import os

import pytest
import torch

_DEFAULT = "cpu,cuda" if torch.cuda.is_available() else "cpu"
DEVICES = [torch.device(d) for d in os.environ.get("TEST_DEVICES", _DEFAULT).split(",") if d]
on_devices = pytest.mark.parametrize("device", DEVICES, ids=[d.type for d in DEVICES])


def tol(device: torch.device, cpu: float, cuda: float) -> float:
    """The tolerance for ``device``: ``cpu`` on the CPU, ``cuda`` on a GPU."""
    return cuda if device.type == "cuda" else cpu
