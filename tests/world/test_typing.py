"""Type checkers see ``Res[T]`` / ``ResMut[T]`` / ``Local[T]`` parameters as ``T``.

mypy runs over two sample files: ``typing_sample.py`` must be clean (it uses ``assert_type``,
so a wrong inferred type is an error), and every line of ``typing_sample_bad.py`` marked
``# E: <code>`` must be reported with that code — so this test fails if the aliases ever
degrade to ``Any`` (which would silence the bad sample).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
WORLD_MODULES = (
    "_world.py", "_param.py", "_handler.py", "_timer.py", "_io.py", "_harness.py",
    "_context.py", "_errors.py",
)


@pytest.fixture(scope="module")
def mypy_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    cache = tmp_path_factory.mktemp("mypy_cache")
    stdout, stderr, _status = mypy_api.run([
        "--strict",
        "--follow-imports=silent",  # report only the files named below
        "--no-error-summary",
        "--show-error-codes",
        "--cache-dir", str(cache),
        str(HERE / "typing_sample.py"),
        str(HERE / "typing_sample_bad.py"),
        *(str(ROOT / "nexusloop" / "world" / m) for m in WORLD_MODULES),
    ])
    assert not stderr, stderr
    return stdout


def _errors_in(output: str, filename: str) -> list[tuple[int, str]]:
    found = []
    for line in output.splitlines():
        m = re.match(rf".*{re.escape(filename)}:(\d+): error: .*\[([\w-]+)\]$", line)
        if m:
            found.append((int(m.group(1)), m.group(2)))
    return found


def test_good_sample_is_clean(mypy_output: str) -> None:
    assert _errors_in(mypy_output, "typing_sample.py") == [], mypy_output


def test_world_modules_are_clean_under_strict(mypy_output: str) -> None:
    for module in WORLD_MODULES:
        assert _errors_in(mypy_output, f"world/{module}") == [], mypy_output


def test_bad_sample_reports_every_marked_line(mypy_output: str) -> None:
    expected = []
    for lineno, text in enumerate((HERE / "typing_sample_bad.py").read_text().splitlines(), 1):
        m = re.search(r"# E: ([\w-]+)", text)
        if m:
            expected.append((lineno, m.group(1)))
    assert len(expected) >= 3
    assert sorted(_errors_in(mypy_output, "typing_sample_bad.py")) == expected, mypy_output
