"""Reading routing files: YAML with positions, `${VAR}` interpolation, syntax errors, file sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.diagnostics import Diagnostic
from engine.loader import Source, display_path, graph_roots, read_source, routing_files


def _read(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Source:
    path = tmp_path / "routes.yaml"
    path.write_text(text, encoding="utf-8")
    return read_source(path, env={} if env is None else env)


# --- interpolation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "env", "expected", "undefined"),
    [
        ("${KEY}", {"KEY": "sk-1"}, "sk-1", []),
        ("Bearer ${KEY}", {"KEY": "sk-1"}, "Bearer sk-1", []),
        ("${A}-${B}", {"A": "1", "B": "2"}, "1-2", []),
        ("${KEY}", {"KEY": ""}, "", []),
        ("${KEY:-fallback}", {}, "fallback", []),
        ("${KEY:-fallback}", {"KEY": "set"}, "set", []),
        ("${KEY:-}", {}, "", []),
        ("${URL:-http://127.0.0.1:8080/v1}", {}, "http://127.0.0.1:8080/v1", []),
        ("${KEY:-a b-c}", {}, "a b-c", []),
        ("$${KEY}", {"KEY": "sk-1"}, "${KEY}", []),
        ("$${KEY:-x}", {}, "${KEY:-x}", []),
        ("$${KEY}/${KEY}", {"KEY": "v"}, "${KEY}/v", []),
        ("$KEY", {"KEY": "sk-1"}, "$KEY", []),
        ("${not valid}", {}, "${not valid}", []),
        ("${1ABC}", {}, "${1ABC}", []),
        ("${KEY}", {}, "", ["KEY"]),
        ("x${A}y${B}z", {}, "xyz", ["A", "B"]),
        ("no variables", {}, "no variables", []),
    ],
)
def test_interpolation(
    tmp_path: Path, value: str, env: dict[str, str], expected: str, undefined: list[str]
) -> None:
    source = _read(tmp_path, f"backends:\n  b:\n    api_key: '{value}'\n", env)
    assert source.data["backends"]["b"]["api_key"] == expected
    assert [d.message for d in source.diagnostics] == [
        f"environment variable {name} is not set" for name in undefined
    ]


def test_undefined_variable_is_a_warning_at_the_value(tmp_path: Path) -> None:
    source = _read(tmp_path, "backends:\n  b: {kind: openai,  api_key: '${MISSING}'}\n")
    assert source.diagnostics == [
        Diagnostic(
            source.path,
            2,
            31,
            "undefined-variable",
            "environment variable MISSING is not set",
            "warning",
            "set it, or write ${MISSING:-default}",
        )
    ]


def test_interpolation_reaches_lists_and_nested_maps_but_not_keys(tmp_path: Path) -> None:
    text = (
        "'${K}': 1\n"
        "routes:\n"
        "  - name: r\n"
        "    backend: {targets: ['${B}', '${B}:${M}']}\n"
        "    request: [{model_rewrite: {rules: [{from: '${M}', to: x}]}}]\n"
    )
    source = _read(tmp_path, text, {"B": "mock", "M": "m-1", "K": "key"})
    route = source.data["routes"][0]
    assert route["backend"]["targets"] == ["mock", "mock:m-1"]
    assert route["request"][0]["model_rewrite"]["rules"][0]["from"] == "m-1"
    assert "${K}" in source.data


def test_non_string_values_are_left_alone(tmp_path: Path) -> None:
    source = _read(tmp_path, "a: 1\nb: true\nc: null\nd: [1.5]\n")
    assert dict(source.data) == {"a": 1, "b": True, "c": None, "d": [1.5]}
    assert source.diagnostics == []


def test_the_process_environment_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGINE_LOADER_TEST_KEY", "from-env")
    path = tmp_path / "routes.yaml"
    path.write_text("key: ${ENGINE_LOADER_TEST_KEY}\n", encoding="utf-8")
    assert read_source(path).data["key"] == "from-env"


# --- positions ----------------------------------------------------------------------------

_POSITIONS = """\
version: 1
backends:
  mock: {kind: mock}
routes:
  - name: first
    request:
      - commands
      - model_rewrite:
    backend: {targets: [mock]}
"""


@pytest.mark.parametrize(
    ("where", "key", "expected"),
    [
        (("version",), False, (1, 10)),
        (("version",), True, (1, 1)),
        (("backends", "mock"), True, (3, 3)),
        (("backends", "mock"), False, (3, 9)),
        (("backends", "mock", "kind"), False, (3, 16)),
        (("routes", 0), False, (5, 5)),
        (("routes", 0, "name"), False, (5, 11)),
        (("routes", 0, "name"), True, (5, 5)),
        (("routes", 0, "request", 0), False, (7, 9)),
        (("routes", 0, "backend", "targets", 0), False, (9, 25)),
        # A null value has no position of its own: its key's is used.
        (("routes", 0, "request", 1, "model_rewrite"), False, (8, 9)),
        # A path that leaves the document ends at the nearest node on it.
        (("routes", 0, "request", 1, "model_rewrite", "rules"), False, (8, 9)),
        (("routes", 0, "backend", "strategy"), False, (9, 14)),
        (("routes", 5), False, (5, 3)),
        (("nowhere",), False, (1, 1)),
        ((), False, (1, 1)),
    ],
)
def test_positions(
    tmp_path: Path, where: tuple[str | int, ...], key: bool, expected: tuple[int, int]
) -> None:
    assert _read(tmp_path, _POSITIONS).position(where, key=key) == expected


def test_diagnostic_carries_path_position_and_hint(tmp_path: Path) -> None:
    source = _read(tmp_path, _POSITIONS)
    found = source.diagnostic(("routes", 0, "name"), "some-code", "msg", key=True, hint="h")
    assert found == Diagnostic(source.path, 5, 5, "some-code", "msg", "error", "h")


# --- whole files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "a: {b: 1\nc: 2\n",
            (2, 2, "yaml-syntax", "expected ',' or '}', but got ':' "),
            id="unclosed-flow-mapping",
        ),
        pytest.param(
            'a: "x\nb: 1\n',
            (3, 1, "yaml-syntax", "found unexpected end of stream "),
            id="unterminated-string",
        ),
        pytest.param(
            "a:\n\t- b\n",
            (2, 1, "yaml-syntax", "found character '\\t' that cannot start any token "),
            id="tab",
        ),
        pytest.param("a: *x\n", (1, 4, "yaml-syntax", "found undefined alias 'x'"), id="alias"),
        pytest.param(
            "a: 1\n  b: 2\n",
            (2, 4, "yaml-syntax", "mapping values are not allowed here"),
            id="bad-indent",
        ),
        pytest.param(
            "a:\n  b: 1\n  b: 2\n",
            (3, 3, "duplicate-key", "duplicate key 'b'"),
            id="duplicate-key",
        ),
        pytest.param(
            "- a\n", (1, 1, "not-a-mapping", "a routing file must be a YAML mapping"), id="list"
        ),
        pytest.param(
            "text\n", (1, 1, "not-a-mapping", "a routing file must be a YAML mapping"), id="scalar"
        ),
    ],
)
def test_unparsable_files(tmp_path: Path, text: str, expected: tuple[int, int, str, str]) -> None:
    source = _read(tmp_path, text)
    (diagnostic,) = source.diagnostics
    line, col, code, message = expected
    assert (diagnostic.line, diagnostic.col, diagnostic.code) == (line, col, code)
    assert diagnostic.message.startswith(message)
    assert diagnostic.level == "error"
    assert source.data is None


def test_syntax_error_names_where_the_construct_started(tmp_path: Path) -> None:
    source = _read(tmp_path, "version: 1\nname: 'never closed\n")
    (diagnostic,) = source.diagnostics
    assert diagnostic.message == (
        "found unexpected end of stream (while scanning a quoted scalar started at 2:7)"
    )


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_file_is_an_empty_mapping(tmp_path: Path, text: str) -> None:
    source = _read(tmp_path, text)
    assert (dict(source.data), source.diagnostics) == ({}, [])


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    source = read_source(tmp_path / "absent.yaml", env={})
    (diagnostic,) = source.diagnostics
    assert (diagnostic.code, diagnostic.line, diagnostic.col) == ("unreadable", 1, 1)
    assert diagnostic.message == "No such file or directory"
    assert source.data is None


def test_non_utf8_file_is_unreadable_at_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("version: 1\nreply: café\n".encode("latin-1"))
    (diagnostic,) = read_source(path, env={}).diagnostics
    assert (diagnostic.code, diagnostic.line, diagnostic.col) == ("unreadable", 2, 11)
    assert diagnostic.message == "not UTF-8 text: invalid continuation byte (byte 0xe9)"


def test_display_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "routes").mkdir()
    monkeypatch.chdir(tmp_path)
    assert display_path(tmp_path / "routes" / "a.yaml") == "routes/a.yaml"
    assert display_path(Path("routes/a.yaml")) == "routes/a.yaml"
    outside = tmp_path.parent / "elsewhere.yaml"
    assert display_path(outside) == str(outside)
    assert read_source(tmp_path / "routes" / "a.yaml", env={}).path == "routes/a.yaml"


def test_routing_files_takes_files_as_given_and_folders_sorted(tmp_path: Path) -> None:
    for name in ("b.yaml", "a.yml", "c.yaml", "notes.txt", "d.json"):
        (tmp_path / name).write_text("{}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "e.yaml").write_text("{}\n")
    single = tmp_path / "notes.txt"
    assert routing_files([tmp_path, single]) == [
        tmp_path / "a.yml",
        tmp_path / "b.yaml",
        tmp_path / "c.yaml",
        single,
    ]


def test_graph_roots(tmp_path: Path) -> None:
    (tmp_path / "graph").mkdir()
    (tmp_path / "graph" / "a.yaml").write_text("{}\n")
    (tmp_path / "many" / "one").mkdir(parents=True)
    (tmp_path / "many" / "two" / "deep").mkdir(parents=True)
    (tmp_path / "many" / "one" / "r.yaml").write_text("{}\n")
    (tmp_path / "many" / "two" / "deep" / "r.yml").write_text("{}\n")
    (tmp_path / "many" / "README.md").write_text("not a graph\n")
    (tmp_path / "empty").mkdir()
    file = tmp_path / "graph" / "a.yaml"
    assert graph_roots(file) == [file]
    assert graph_roots(tmp_path / "graph") == [tmp_path / "graph"]
    assert graph_roots(tmp_path / "many") == [
        tmp_path / "many" / "one",
        tmp_path / "many" / "two" / "deep",
    ]
    assert graph_roots(tmp_path / "empty") == [tmp_path / "empty"]
