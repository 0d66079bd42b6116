"""Render the matrix's results file as a Markdown table and put it into the README.

    python -m tests.e2e.matrix.report RESULTS.json [--readme README.md] [--check]

Rows are front-end x mode, columns backend protocols; a cell reads `10/10` when every case
passed, lists the failing cases otherwise, and says "not built" when the front-end or
backend does not exist yet. The table replaces what is between the README's
`<!-- matrix:start -->` and `<!-- matrix:end -->` markers; `--check` only reports whether
the README is up to date (exit 1 when not).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

START = "<!-- matrix:start -->"
END = "<!-- matrix:end -->"

FRONTEND_TITLES = {
    "openai_chat": "OpenAI Chat",
    "openai_responses": "OpenAI Responses",
    "anthropic": "Anthropic Messages",
    "gemini": "Gemini",
}
BACKEND_TITLES = {
    "openai": "OpenAI Chat",
    "anthropic": "Anthropic",
    "gemini": "Gemini",
    "responses": "OpenAI Responses",
    "compat": "OpenAI-compatible",
}
NOT_BUILT = "not built"


def render(results: dict[str, Any]) -> str:
    """The Markdown table for a results document (see conftest.py)."""
    frontends: dict[str, bool] = results["frontends"]
    backends: dict[str, bool] = results["backends"]
    cases: list[str] = results["cases"]
    cells: dict[tuple[str, str, str], dict[str, bool]] = defaultdict(dict)
    for cell in results["cells"]:
        key = (cell["frontend"], cell["backend"], cell["mode"])
        cells[key][cell["case"]] = cells[key].get(cell["case"], True) and cell["passed"]

    header = ["front-end", "mode", *(BACKEND_TITLES.get(b, b) for b in backends)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for frontend, frontend_built in frontends.items():
        for mode in results["modes"]:
            row = [FRONTEND_TITLES.get(frontend, frontend), mode]
            for backend, backend_built in backends.items():
                row.append(
                    _cell(cells.get((frontend, backend, mode)), cases)
                    if frontend_built and backend_built
                    else NOT_BUILT
                )
            lines.append("| " + " | ".join(row) + " |")
    passed = sum(c["passed"] for c in results["cells"])
    lines.append("")
    lines.append(f"{passed} of {len(results['cells'])} cells pass; cases: {', '.join(cases)}.")
    return "\n".join(lines)


def _cell(outcomes: dict[str, bool] | None, cases: list[str]) -> str:
    if not outcomes:
        return "not run"
    ran = [case for case in cases if case in outcomes]
    failing = [case for case in ran if not outcomes[case]]
    passing = len(ran) - len(failing)
    text = f"{passing}/{len(ran)}"
    if len(ran) < len(cases):
        text += " (partial run)"
    if failing:
        text += " ✗ " + ", ".join(failing)
    return text if failing else f"✓ {text}"


def splice(readme: str, table: str) -> str:
    """`readme` with the text between the markers replaced by `table`."""
    before, start, rest = readme.partition(START)
    _, end, after = rest.partition(END)
    if not start or not end:
        raise ValueError(f"the README lacks the {START} … {END} markers")
    return f"{before}{START}\n{table}\n{END}{after}"


def main(argv: list[str] | None = None) -> int:
    """Render RESULTS.json, print the table, and rewrite (or check) the README section."""
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.matrix.report")
    parser.add_argument("results", type=Path, help="the JSON file MATRIX_REPORT named")
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--check", action="store_true", help="only check the README")
    args = parser.parse_args(argv)

    table = render(json.loads(args.results.read_text(encoding="utf-8")))
    readme = args.readme.read_text(encoding="utf-8")
    updated = splice(readme, table)
    print(table)
    if args.check:
        if updated != readme:
            print(f"{args.readme} is out of date: run `make matrix`", file=sys.stderr)
            return 1
        return 0
    if updated != readme:
        args.readme.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
