"""Every chapter honours the contract: its parameters cell equals its parameter model's defaults
(the default profile), and its smoke and full profiles validate."""

import pytest
import yaml

from lib.book.pages import discover, parse_value, resolve_params
from lib.core.params import ParameterError
from lib.core.results import REPO_ROOT

CHAPTERS = [p for p in discover() if p.notebook]


def _parameters_cell(page):
    import jupytext

    nb = jupytext.read(page.source)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{page.name}: exactly one cell must be tagged 'parameters'"
    namespace: dict = {}
    exec(cells[0].source, {}, namespace)
    namespace.pop("__annotations__", None)
    return namespace


@pytest.mark.parametrize("page", CHAPTERS, ids=lambda p: p.name)
def test_parameters_cell_equals_model_defaults(page):
    values = _parameters_cell(page)
    if page.params_model is None:  # pages without a model (the introduction)
        assert set(values) <= {"profile"}
        return
    fields = page.model.model_fields
    assert set(values) == set(fields), (
        f"{page.name}: parameters cell and {page.params_model} differ: "
        f"{sorted(set(values) ^ set(fields))}")
    for name, field in fields.items():
        assert values[name] == field.default, f"{page.name}.{name}"


@pytest.mark.parametrize("page", [p for p in CHAPTERS if p.params_model], ids=lambda p: p.name)
@pytest.mark.parametrize("profile", ["smoke", "default", "full"])
def test_profiles_validate(page, profile):
    resolved = resolve_params(page, profile, {})
    assert resolved["profile"] == profile
    if profile != "default":
        assert (REPO_ROOT / "book" / "params" / page.name / f"{profile}.yaml").exists()


@pytest.mark.parametrize("page", [p for p in CHAPTERS if p.params_model], ids=lambda p: p.name)
def test_unknown_override_is_rejected(page):
    with pytest.raises(ParameterError, match="no_such_parameter"):
        resolve_params(page, "smoke", {"no_such_parameter": 1})


def test_parse_value():
    assert parse_value("1e-3") == 1e-3 and parse_value("3") == 3
    assert parse_value("[8, 16]") == [8, 16] and parse_value("true") is True
    assert parse_value("cuda") == "cuda"


def test_profile_files_are_mappings():
    for f in (REPO_ROOT / "book" / "params").glob("*/*.yaml"):
        assert isinstance(yaml.safe_load(f.read_text()) or {}, dict), f


@pytest.mark.parametrize("page", CHAPTERS, ids=lambda p: p.name)
def test_papermill_sees_every_parameter(page):
    """papermill (which readers use to re-run a chapter) must parse every line of the
    parameters cell; a line it cannot parse (e.g. '=' inside the comment) is silently dropped
    and its override is then rejected as unknown."""
    import jupytext
    from papermill.translators import PythonTranslator

    nb = jupytext.read(page.source)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    parsed = {p.name for p in PythonTranslator.inspect(cell)}
    assert parsed == set(_parameters_cell(page)), sorted(set(_parameters_cell(page)) ^ parsed)
