"""Parameter errors name the parameter and its range; writes are atomic; verdicts follow the
rule; divergence is detected per member; the chapter run writes its provenance."""

import json
import os
import subprocess
import sys
import textwrap
import time
from typing import Annotated

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import Field

from lib.core.chapter import ChapterRun, format_value
from lib.core.device import resolve_device
from lib.core.divergence import DivergenceReport, finite_members
from lib.core.params import ChapterParams, ParameterError, require
from lib.core.results import atomic_write_text, to_jsonable, write_csv, write_json


class Demo(ChapterParams):
    lr: float = Field(0.1, gt=0, le=10, description="learning rate")
    widths: list[Annotated[int, Field(ge=2, le=4096)]] = Field(
        [8, 16], min_length=2, description="model widths"
    )
    n_features: int = Field(64, ge=1, description="number of features")

    def check(self) -> None:
        require(max(self.widths) <= self.n_features, "widths",
                f"every width must be <= n_features = {self.n_features}")


@pytest.mark.parametrize(
    "bad, name, allowed",
    [
        ({"lr": -1}, "lr", "> 0 and <= 10"),
        ({"lr": "fast"}, "lr", "> 0"),
        ({"widths": [8, 1]}, "widths[1]", ">= 2"),
        ({"widths": [8]}, "widths", "at least 2 items"),
        ({"seed": -3}, "seed", ">= 0"),
        ({"device": "tpu"}, "device", "'cpu', 'cuda'"),
        ({"steps": 5}, "steps", "known parameters"),
    ],
)
def test_bad_parameters_fail_fast_naming_parameter_and_range(bad, name, allowed):
    t0 = time.perf_counter()
    with pytest.raises(ParameterError) as err:
        Demo.validated(bad)
    assert time.perf_counter() - t0 < 1.0
    msg = str(err.value)
    assert f"'{name}'" in msg and allowed in msg


def test_cross_parameter_check():
    with pytest.raises(ParameterError, match="'widths'.*n_features"):
        Demo.validated({"widths": [8, 128], "n_features": 64})


def test_from_namespace_and_describe():
    p = Demo.from_namespace({"lr": 0.5, "unrelated": object(), "seed": 3})
    assert p.lr == 0.5 and p.seed == 3
    rows = {r["name"]: r for r in Demo.describe()}
    assert rows["lr"]["allowed"] == "float, > 0 and <= 10"
    assert "each >= 2" in rows["widths"]["allowed"]
    assert rows["lr"]["meaning"] == "learning rate"


def test_device_fallback_warns_without_gpu():
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda"
    else:
        with pytest.warns(UserWarning, match="no CUDA GPU"):
            assert resolve_device("cuda").type == "cpu"
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")


def test_atomic_write_roundtrip(tmp_path):
    write_json(tmp_path / "a.json", {"x": np.float32(1.5), "t": torch.tensor([1, 2]),
                                     "nan": float("nan")})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1.5, "t": [1, 2], "nan": None}
    write_csv(tmp_path / "b.csv", pd.DataFrame({"a": [1, 2]}))
    assert pd.read_csv(tmp_path / "b.csv")["a"].tolist() == [1, 2]
    assert not list(tmp_path.glob(".*.tmp"))


def test_interrupted_write_leaves_no_file_that_looks_whole(tmp_path):
    """Kill a writer half way: the target is absent (or the old version), never half."""
    target = tmp_path / "big.csv"
    atomic_write_text(target, "old,complete\n")
    script = textwrap.dedent(f"""
        import os, signal
        from lib.core import results
        real_fsync = os.fsync
        def die(fd):
            os.kill(os.getpid(), signal.SIGKILL)
        os.fsync = die
        results.atomic_write_text({str(target)!r}, "new," * 100000)
    """)
    proc = subprocess.run([sys.executable, "-c", script], env={**os.environ})
    assert proc.returncode != 0
    assert target.read_text() == "old,complete\n"


def test_divergence_detected_per_member():
    losses = torch.tensor([[1.0, 0.5], [1.0, float("nan")], [float("inf"), 1.0], [2.0, 1.0]])
    ok = finite_members(losses)
    assert ok.tolist() == [True, False, False, True]
    rep = DivergenceReport()
    rep.add(ok, ["a", "b", "c", "d"])
    assert rep.labels == ["b", "c"] and "2 run(s) diverged" in rep.markdown()
    assert "No run diverged" in DivergenceReport().markdown()


def test_chapter_run_writes_provenance(tmp_path):
    params = Demo.validated({"results_dir": str(tmp_path), "seed": 7})
    run = ChapterRun("demo", params)
    run.save_csv("curve", pd.DataFrame({"x": [1, 2]}))
    assert run.glue("alpha", 0.5, ".3f") == "0.500"
    assert run.glue("n", 12345) == "12,345"
    assert run.glue("word", "held") == "held"
    claim = run.claim(id="a", claim="c", kind="toy_test", quantity="q", estimate=1.0,
                      ci_low=0.95, ci_high=1.05, target=1.0, tol=0.1)
    assert claim.verdict == "held" and claim.tolerance == "±0.1"
    env = run.finish()
    assert env["seed"] == 7 and env["parameters"]["lr"] == 0.1 and env["runtime_s"] >= 0
    assert json.loads((tmp_path / "numbers.json").read_text()) == {
        "alpha": "0.500", "n": "12,345", "word": "held"}
    assert json.loads((tmp_path / "claims.json").read_text())[0]["verdict"] == "held"
    assert "curve.csv" in env["files"]
    md = run.reproducibility_markdown(env) + run.rerun_markdown()
    assert "curve.csv" in md and "lib.book run demo" in md and "learning rate" in md
    assert format_value(True) == "yes" and format_value(3, "d") == "3"
    assert to_jsonable(np.arange(2)) == [0, 1]
