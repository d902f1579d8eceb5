"""Validated chapter parameters.

Every chapter declares a pydantic model (a subclass of :class:`ChapterParams`) whose defaults are
the chapter's ``default`` profile. The runner and the chapter itself validate the resolved values
*before any compute*; a bad value raises :class:`ParameterError` naming the parameter, the value
and the allowed range, so a reader who mistypes ``-p lr -1`` learns at once what is allowed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ParameterError(ValueError):
    """A chapter parameter is invalid; the message names it and its allowed range."""


class Params(BaseModel):
    """A validated parameter model: every field with its allowed range, cross-field checks in
    :meth:`check`, and errors (:class:`ParameterError`) that name the parameter."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    def check(self) -> None:
        """Cross-parameter checks; subclasses override and raise ParameterError."""

    @classmethod
    def validated(cls, values: dict[str, Any]) -> Self:
        """Build from a dict (e.g. a notebook's globals), raising ParameterError on bad input."""
        try:
            params = cls(**values)
        except ValidationError as err:
            raise ParameterError(_explain(cls, err)) from None
        params.check()
        return params

    @classmethod
    def from_namespace(cls, namespace: dict[str, Any]) -> Self:
        """Pick this model's fields out of a namespace such as ``globals()`` and validate them."""
        return cls.validated({k: namespace[k] for k in cls.model_fields if k in namespace})

    @classmethod
    def describe(cls) -> list[dict[str, str]]:
        """One row per parameter: name, type, default, allowed range, meaning (for re-run boxes)."""
        rows = []
        # the chapter's own parameters first, its real-model section's (family, real_*) after
        names = sorted(cls.model_fields, key=lambda n: n == "family" or n.startswith("real_"))
        for name in names:
            field = cls.model_fields[name]
            rows.append(
                {
                    "name": name,
                    "type": _type_name(field.annotation),
                    "default": repr(field.default),
                    "allowed": allowed_range(cls, name),
                    "meaning": field.description or "",
                }
            )
        return rows


class ChapterParams(Params):
    """Parameters every chapter has. Subclass and add the chapter's own, each with a range."""

    profile: Literal["smoke", "default", "long", "full"] = Field(
        "default", description="which parameter profile made this run"
    )
    seed: int = Field(0, ge=0, le=2**31 - 1, description="base random seed")
    device: Literal["cpu", "cuda"] = Field(
        "cpu", description="'cpu', or 'cuda' for a GPU (falls back to cpu with a message)"
    )
    results_dir: str = Field(
        "", description="where results go; empty means `results/<profile>/<chapter>/`"
    )


def allowed_range(cls: type[BaseModel], name: str) -> str:
    """Human-readable allowed values of one field, from its annotation and constraints."""
    field = cls.model_fields[name]
    parts = [_type_name(field.annotation)]
    bounds = _bounds(field.metadata)
    inner = _inner_bounds(field.annotation)
    if bounds:
        parts.append(bounds)
    if inner:
        parts.append(f"each {inner}")
    extra = (field.json_schema_extra or {}) if isinstance(field.json_schema_extra, dict) else {}
    if "allowed" in extra:
        parts.append(str(extra["allowed"]))
    return ", ".join(parts)


def _bounds(metadata: list[Any]) -> str:
    out = []
    for m in metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            v = getattr(m, attr, None)
            if v is not None and isinstance(m, (at.Ge, at.Gt, at.Le, at.Lt, at.Interval)):
                out.append(f"{sym} {v}")
        if isinstance(m, at.MinLen):
            out.append(f"at least {m.min_length} items")
        if isinstance(m, at.MaxLen):
            out.append(f"at most {m.max_length} items")
    return " and ".join(out)


def _inner_bounds(annotation: Any) -> str:
    """Bounds of list items, for fields like ``list[Annotated[int, Field(ge=1)]]``."""
    args = getattr(annotation, "__args__", ()) or ()
    for a in args:
        meta = getattr(a, "__metadata__", None)
        if meta:
            flat: list[Any] = []
            for m in meta:
                flat.extend(getattr(m, "metadata", [m]))
            b = _bounds(flat)
            if b:
                return b
    return ""


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(annotation))
    if get_origin(annotation) is Annotated:
        return _type_name(get_args(annotation)[0])
    if get_origin(annotation) is list:
        inner = get_args(annotation)
        return f"list of {_type_name(inner[0])}" if inner else "list"
    text = getattr(annotation, "__name__", None) or str(annotation)
    return (
        text.replace("typing.", "")
        .replace("Annotated[", "")
        .replace("annotated_types.", "")
        .replace("<class '", "")
        .replace("'>", "")
    )


def _explain(cls: type[BaseModel], err: ValidationError) -> str:
    lines = [f"invalid parameters for {cls.__name__}:"]
    for e in err.errors():
        loc = e["loc"]
        name = str(loc[0]) if loc else "?"
        where = name + "".join(f"[{i}]" for i in loc[1:])
        if e["type"] == "extra_forbidden":
            known = ", ".join(cls.model_fields)
            lines.append(f"  parameter '{name}' is unknown; known parameters: {known}")
            continue
        allowed = allowed_range(cls, name) if name in cls.model_fields else "?"
        lines.append(
            f"  parameter '{where}' = {e.get('input')!r}: {e['msg']}; allowed: {allowed}"
        )
    return "\n".join(lines)


def require(condition: bool, name: str, message: str) -> None:
    """Raise ParameterError for a cross-parameter check that failed."""
    if not condition:
        raise ParameterError(f"parameter '{name}': {message}")


ChunkMembers = Annotated[int, Field(
    ge=0, le=1_000_000,
    description="members per batched program; 0 = automatic: all on CUDA (within memory), the "
                "measured size on CPU (lib/core/sweep.py)")]
"""The type of every sweeping chapter's ``chunk_members`` parameter (one name, one range)."""
