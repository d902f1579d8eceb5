"""Arithmetic word problems with exact answers, generated in code: the reward for ES on SmolLM2.

No copy of GSM8K (or ARC, WinoGrande) is reachable offline (``shared/notes/offline-assets.md``
§1.4), so the ES section uses templated GSM8K-style one- and two-step problems. Each problem
carries the arithmetic ``expression`` it was built from, so its answer can be checked
independently (``tests/test_real.py`` evaluates the expression and re-reads the numbers from the
question). Two styles: word problems and the same operations stated bare; the second exists
because SmolLM2-135M solves almost no word problems (measured), and a reward that is 0 for
every perturbation gives ES no signal. The reward of a completion is 1 if its first integer
equals the answer, else 0 (exact match, as the ES papers' GSM8K reward).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

NAMES = ("Tom", "Anna", "Ravi", "Mia", "Lucas", "Sara", "Omar", "Lena", "Ken", "Zoe")
OBJECTS = ("apples", "marbles", "books", "stickers", "pencils", "cookies", "coins", "cards")


@dataclass(frozen=True)
class Problem:
    question: str
    expression: str  # e.g. "23 + 9 - 4", evaluates to ``answer``
    answer: int
    kind: str


def _make(kind: str, rng: np.random.Generator) -> Problem:
    name = str(rng.choice(NAMES))
    obj = str(rng.choice(OBJECTS))
    if kind in BARE:
        op = BARE[kind]
        a, b = (int(v) for v in rng.integers(2, 20, 2))
        if op == "-" and b > a:
            a, b = b, a
        answer = {"+": a + b, "-": a - b, "*": a * b}[op]
        return Problem(f"What is {a} {op} {b}?", f"{a} {op} {b}", answer, kind)
    if kind == "add":
        a, b = (int(v) for v in rng.integers(2, 60, 2))
        q = f"{name} has {a} {obj}. {name} buys {b} more. How many {obj} does {name} have now?"
        return Problem(q, f"{a} + {b}", a + b, kind)
    if kind == "sub":
        a = int(rng.integers(10, 90))
        b = int(rng.integers(1, a))
        q = f"{name} has {a} {obj} and gives {b} of them away. How many {obj} are left?"
        return Problem(q, f"{a} - {b}", a - b, kind)
    if kind == "mul":
        a, b = (int(v) for v in rng.integers(2, 13, 2))
        q = (f"{name} buys {a} boxes with {b} {obj} in each box. How many {obj} does {name} "
             "buy in total?")
        return Problem(q, f"{a} * {b}", a * b, kind)
    if kind == "two_step":
        a, b = (int(v) for v in rng.integers(5, 40, 2))
        c = int(rng.integers(1, a + b))
        q = (f"{name} has {a} {obj}, buys {b} more, then gives away {c}. How many {obj} does "
             f"{name} have?")
        return Problem(q, f"{a} + {b} - {c}", a + b - c, kind)
    raise ValueError(f"unknown problem kind {kind!r}")


BARE = {"bare_add": "+", "bare_sub": "-", "bare_mul": "*"}
STYLES = {
    # GSM8K-style one- and two-step word problems (SmolLM2-135M solves almost none)
    "word": ("add", "sub", "mul", "two_step"),
    # the same operations stated bare, operands 2–19 ("What is 14 + 7?")
    "arithmetic": ("bare_add", "bare_sub", "bare_mul"),
}


def make_problems(n: int, seed: int, style: str = "word") -> list[Problem]:
    """``n`` problems of one ``style`` (see :data:`STYLES`), cycling through its kinds, numbers
    drawn from ``seed`` (deterministic)."""
    if style not in STYLES:
        raise ValueError(f"problem style must be one of {sorted(STYLES)}, got {style!r}")
    kinds = STYLES[style]
    rng = np.random.default_rng(seed)
    return [_make(kinds[i % len(kinds)], rng) for i in range(n)]


_INT = re.compile(r"-?\d+")


def parse_answer(completion: str) -> int | None:
    """The first integer in a completion (``None`` if there is none)."""
    m = _INT.search(completion.replace(",", ""))
    return int(m.group()) if m else None


def reward(completion: str, problem: Problem) -> float:
    """1.0 if the completion's first integer is the exact answer, else 0.0."""
    return float(parse_answer(completion) == problem.answer)
