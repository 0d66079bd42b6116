"""Diagnostics goldens: `engine check` on each broken routing file prints exactly its `.out`.

A case is `bad/NAME.yaml` (one file) or `bad/NAME/` (a folder: one graph of several files),
with the expected output in `bad/NAME.out`. The check runs with `bad/` as the working
directory, so the printed paths are `NAME.yaml:LINE:COL`. `UPDATE_GOLDENS=1 pytest
tests/check` rewrites the `.out` files from what the engine prints now; review the diff.

Files in `good/` must check clean.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.cli import main

HERE = Path(__file__).parent
BAD = HERE / "bad"
GOOD = HERE / "good"
UPDATE = os.environ.get("UPDATE_GOLDENS") == "1"
# The files use variables of this prefix and expect them to be unset.
ENV_PREFIX = "ENGINE_CHECK_"


def _cases(folder: Path) -> list[pytest.ParameterSet]:
    found = sorted(p for p in folder.iterdir() if p.suffix == ".yaml" or p.is_dir())
    return [pytest.param(p.name, id=p.stem) for p in found if p.name != "__pycache__"]


def _check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], cwd: Path, name: str
) -> tuple[int, str]:
    for var in [v for v in os.environ if v.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(var)
    monkeypatch.chdir(cwd)
    code = main(["check", name])
    captured = capsys.readouterr()
    assert captured.err == ""
    return code, captured.out


@pytest.mark.parametrize("name", _cases(BAD))
def test_bad_file_diagnostics(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _check(monkeypatch, capsys, BAD, name)
    golden = BAD / f"{Path(name).stem}.out"
    if UPDATE:
        golden.write_text(out, encoding="utf-8")
    assert golden.exists(), f"{golden} is missing; run with UPDATE_GOLDENS=1 to create it"
    expected = golden.read_text(encoding="utf-8")
    assert out == expected, f"{golden.name} differs; rerun with UPDATE_GOLDENS=1, review the diff"
    # Errors fail the check; a file with only warnings passes.
    assert code == (1 if ": error[" in expected else 0)


def test_every_golden_has_its_case() -> None:
    cases = {Path(p.values[0]).stem for p in _cases(BAD)}  # type: ignore[arg-type]
    goldens = {p.stem for p in BAD.glob("*.out")}
    assert goldens == cases, "a .out without its .yaml (or folder), or the other way round"


@pytest.mark.parametrize("name", _cases(GOOD))
def test_good_file_checks_clean(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _check(monkeypatch, capsys, GOOD, name)
    assert (code, out) == (0, "ok\n")
