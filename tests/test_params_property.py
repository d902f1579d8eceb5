"""Property-based: every chapter's parameter model rejects invalid values (wrong type, out of
range, unknown name) before any compute, with a message naming the parameter and its allowed
range."""

import math
import time

import annotated_types as at
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.book.pages import discover
from lib.core.params import ParameterError

MODELS = sorted({p.model for p in discover() if p.notebook and p.params_model},
                key=lambda m: m.__name__)
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _bounds(field):
    lo = hi = None
    for m in field.metadata:
        if isinstance(m, (at.Ge, at.Gt)):
            lo = getattr(m, "ge", None) if isinstance(m, at.Ge) else m.gt
        if isinstance(m, (at.Le, at.Lt)):
            hi = getattr(m, "le", None) if isinstance(m, at.Le) else m.lt
    return lo, hi


def _numeric_fields(model):
    out = []
    for name, field in model.model_fields.items():
        if field.annotation in (int, float) and any(_bounds(field)):
            out.append((name, field))
    return out


def _check(model, values, name):
    t0 = time.perf_counter()
    with pytest.raises(ParameterError) as err:
        model.validated(values)
    assert time.perf_counter() - t0 < 1.0
    message = str(err.value)
    assert f"'{name}" in message, message
    assert "allowed" in message or "known parameters" in message, message


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@SETTINGS
@given(data=st.data())
def test_out_of_range_numbers_are_rejected(model, data):
    fields = _numeric_fields(model)
    if not fields:
        pytest.skip("no bounded numeric parameter")
    name, field = data.draw(st.sampled_from(fields))
    lo, hi = _bounds(field)
    choices = []
    if lo is not None:
        choices.append(st.floats(max_value=lo, exclude_max=True, allow_nan=False,
                                 allow_infinity=False, min_value=lo - 1e6 - abs(lo)))
    if hi is not None:
        choices.append(st.floats(min_value=hi, exclude_min=True, allow_nan=False,
                                 allow_infinity=False, max_value=hi + 1e6 + abs(hi)))
    value = data.draw(st.one_of(choices))
    if field.annotation is int:
        value = math.floor(value) if lo is not None and value < lo else math.ceil(value)
        if (lo is not None and lo <= value) and (hi is None or value <= hi):
            return  # rounding brought it back in range
    _check(model, {name: value}, name)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@SETTINGS
@given(data=st.data())
def test_wrong_types_are_rejected(model, data):
    name = data.draw(st.sampled_from([n for n, f in model.model_fields.items()
                                      if f.annotation is not str]))
    value = data.draw(st.one_of(st.text(alphabet="qxz", min_size=2), st.dictionaries(
        st.text(min_size=1, max_size=3), st.integers(), min_size=1)))
    _check(model, {name: value}, name)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@SETTINGS
@given(name=st.from_regex(r"[a-z][a-z_]{2,12}", fullmatch=True))
def test_unknown_names_are_rejected(model, name):
    if name in model.model_fields:
        return
    _check(model, {name: 1}, name)
