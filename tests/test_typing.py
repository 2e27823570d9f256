"""What a type checker sees of the public calls: mypy on a user's script, in a subprocess.

``cgfast.score`` returns the scores alone unless ``return_terms`` or ``suggest`` is true, and
``cgfast.rank`` a dict only when given labels; without overloads saying so, the README's
``cgfast.score(X, y).argsort()`` is an error under mypy and pyright.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = """
import numpy as np
import cgfast

X = np.zeros((10, 3))
y = np.arange(10) % 2
flag = bool(len(y) > 3)
scores = cgfast.score(X, y)
order = scores.argsort()
terms = cgfast.score(X, y, return_terms=True, seed=None)
mean = terms.ab.mean()
reveal_type(scores)
reveal_type(terms)
reveal_type(cgfast.score(X, y, suggest=True).suggested_label)
reveal_type(cgfast.score(X, y, return_terms=flag))
reveal_type(cgfast.score(X, y, task="regression", max_block=64))
reveal_type(cgfast.rank(scores))
reveal_type(cgfast.rank(scores, y))
"""


def canonical(revealed: str) -> str:
    """A revealed type in one spelling across mypy and NumPy versions: ``numpy.ndarray[...]``
    (its parameters differ between NumPy versions) as ``ndarray``, no ``builtins.``, and
    ``Union[A, B]`` (older mypy) as ``A | B``."""
    text = revealed.replace("builtins.", "")
    while "numpy.ndarray[" in text:
        start = text.index("numpy.ndarray[")
        depth, end = 0, start + len("numpy.ndarray")
        while True:  # to the bracket that closes the parameters
            depth += {"[": 1, "]": -1}.get(text[end], 0)
            if depth == 0:
                break
            end += 1
        text = text[:start] + "ndarray" + text[end + 1 :]
    if text.startswith("Union[") and text.endswith("]"):
        parts, depth, current = [], 0, ""
        for char in text[len("Union[") : -1]:
            depth += {"[": 1, "]": -1}.get(char, 0)
            if char == "," and depth == 0:
                parts, current = [*parts, current.strip()], ""
            else:
                current += char
        text = " | ".join([*parts, current.strip()])
    return text


REVEALED = [
    "ndarray",
    "cgfast.engine.ScoreTerms",
    "ndarray | None",
    "ndarray | cgfast.engine.ScoreTerms",
    "ndarray",
    "ndarray",
    "dict[Any, ndarray]",
]


def mypy(tmp_path, source: str) -> subprocess.CompletedProcess:
    pytest.importorskip("mypy")
    (tmp_path / "user.py").write_text(textwrap.dedent(source))
    command = [sys.executable, "-m", "mypy", "--no-incremental", "--no-error-summary", "user.py"]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)


def test_mypy_sees_what_score_and_rank_return(tmp_path):
    run = mypy(tmp_path, SCRIPT)
    lines = run.stdout.splitlines()
    errors = [line for line in lines if ": error:" in line]
    assert not errors, run.stdout + run.stderr
    revealed = [
        canonical(line.split('Revealed type is "')[1].rstrip('"'))
        for line in lines
        if "Revealed type is" in line
    ]
    assert revealed == REVEALED, run.stdout


def test_mypy_refuses_an_unknown_or_mistyped_keyword(tmp_path):
    run = mypy(
        tmp_path,
        """
        import numpy as np
        import cgfast

        cgfast.score(np.zeros((4, 2)), [0, 1, 0, 1], rato=2.0)
        cgfast.score(np.zeros((4, 2)), [0, 1, 0, 1], seed="x")
        """,
    )
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    assert sorted({line.split(":")[1] for line in errors}) == ["5", "6"], run.stdout


@pytest.mark.parametrize(
    "revealed, want",
    [
        ("numpy.ndarray[tuple[Any, ...], numpy.dtype[Any]] | None", "ndarray | None"),
        ("Union[numpy.ndarray[Any, Any], None]", "ndarray | None"),
        ("builtins.dict[Any, numpy.ndarray[Any, numpy.dtype[Any]]]", "dict[Any, ndarray]"),
        (
            "Union[numpy.ndarray[Any, Any], cgfast.engine.ScoreTerms]",
            "ndarray | cgfast.engine.ScoreTerms",
        ),
    ],
)
def test_revealed_types_are_compared_in_one_spelling(revealed, want):
    assert canonical(revealed) == want


def test_the_overloads_options_are_scores_own_keywords():
    """The overloads take score()'s options through one TypedDict, written only for type
    checkers: it must hold every keyword of score() but the two that choose what it returns,
    with the same annotations, or a checker would refuse a keyword that score() takes."""
    import ast
    import inspect

    import cgfast
    from cgfast import _score

    tree = ast.parse(inspect.getsource(_score))
    typed = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and node.name == "_ScoreOptions"
    )
    options = {
        statement.target.id: ast.unparse(statement.annotation)
        for statement in typed.body
        if isinstance(statement, ast.AnnAssign)
    }
    parameters = inspect.signature(cgfast.score).parameters.values()
    want = {
        p.name: p.annotation
        for p in parameters
        if p.name not in ("X", "y", "return_terms", "suggest")
    }
    assert options == want
