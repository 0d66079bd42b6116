"""The `engine` command: check, graph and schema (serve is exercised by the end-to-end tests)."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main, parser
from engine.schema import SCHEMA_FILE, build_schema

ROOT = Path(__file__).resolve().parents[2]
GOOD = """\
backends: {mock: {kind: mock, models: [mock-1]}}
routes:
  - name: default
    request: [commands]
    backend: {targets: [mock]}
"""
BAD = """\
backends: {mock: {kind: mock}}
routes:
  - name: default
    request: [comands]
    backend: {targets: [mokc]}
"""
WARNS = """\
backends: {o: {kind: openai, api_key: "${ENGINE_CLI_TEST_UNSET}"}}
routes: [{name: default, backend: {targets: [o]}}]
"""


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """good.yaml, bad.yaml and warns.yaml in the working directory, and a routes/ folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENGINE_CLI_TEST_UNSET", raising=False)
    for name, text in {"good.yaml": GOOD, "bad.yaml": BAD, "warns.yaml": WARNS}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "routes").mkdir()
    (tmp_path / "routes" / "default.yaml").write_text(GOOD, encoding="utf-8")
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- check ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "code", "out"),
    [
        (["check", "good.yaml"], 0, "ok\n"),
        (["check"], 0, "ok\n"),  # routes/ by default
        (["check", "routes", "good.yaml"], 0, "ok\n"),
        (
            ["check", "bad.yaml"],
            1,
            "bad.yaml:4:15: error[unknown-stage]: unknown stage 'comands' "
            "(did you mean 'commands'?)\n"
            "bad.yaml:5:25: error[unknown-backend]: unknown backend 'mokc' "
            "(did you mean 'mock'?)\n",
        ),
        (
            ["check", "warns.yaml"],
            0,
            "warns.yaml:1:39: warning[undefined-variable]: environment variable "
            "ENGINE_CLI_TEST_UNSET is not set "
            "(set it, or write ${ENGINE_CLI_TEST_UNSET:-default})\n",
        ),
        (
            ["check", "good.yaml", "missing.yaml"],
            1,
            "missing.yaml:1:1: error[unreadable]: No such file or directory\n",
        ),
    ],
)
def test_check(
    files: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, out: str
) -> None:
    assert _run(capsys, *argv) == (code, out, "")


def test_check_reports_every_graph_and_fails_if_any_fails(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "check", "good.yaml", "bad.yaml", "warns.yaml")
    assert code == 1
    assert [line.split(":")[0] for line in out.splitlines()] == [
        "bad.yaml",
        "bad.yaml",
        "warns.yaml",
    ]


def test_check_descends_into_a_folder_of_graphs(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, text in {"one": GOOD, "two": BAD}.items():
        (files / "graphs" / name).mkdir(parents=True)
        (files / "graphs" / name / "routes.yaml").write_text(text, encoding="utf-8")
    code, out, _ = _run(capsys, "check", "graphs")
    assert code == 1
    assert {line.split(":")[0] for line in out.splitlines()} == {"graphs/two/routes.yaml"}


def test_check_json(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "check", "--format", "json", "bad.yaml", "warns.yaml")
    assert (code, err) == (1, "")
    records = json.loads(out)
    assert [(r["path"], r["line"], r["col"], r["level"], r["code"]) for r in records] == [
        ("bad.yaml", 4, 15, "error", "unknown-stage"),
        ("bad.yaml", 5, 25, "error", "unknown-backend"),
        ("warns.yaml", 1, 39, "warning", "undefined-variable"),
    ]
    assert records[0]["hint"] == "did you mean 'commands'?"
    assert records[0]["message"] == "unknown stage 'comands'"


def test_check_json_when_clean_is_an_empty_list(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "check", "--format", "json", "good.yaml")
    assert (code, json.loads(out)) == (0, [])


# --- graph ------------------------------------------------------------------------------

TEXT = """\
backends:
  mock: mock (mock-1)
routes (first match wins):
  1. default: model * on all front-ends
     request:  commands
     backend:  single → mock
     response: -
"""
MERMAID = """\
flowchart LR
  client([client])
  b_mock[("mock (mock)")]
  r0{"default: *"}
  client -->|"all front-ends"| r0
  r0_q0["commands"]
  r0 --> r0_q0
  r0_backend[/"single"/]
  r0_q0 --> r0_backend
  r0_backend --> b_mock
"""


@pytest.mark.parametrize(
    ("argv", "out"),
    [
        (["graph"], TEXT + "\n" + MERMAID),
        (["graph", "good.yaml", "--format", "both"], TEXT + "\n" + MERMAID),
        (["graph", "routes", "--format", "text"], TEXT),
        (["graph", "--format", "mermaid"], MERMAID),
    ],
)
def test_graph(files: Path, capsys: pytest.CaptureFixture[str], argv: list[str], out: str) -> None:
    assert _run(capsys, *argv) == (0, out, "")


def test_graph_of_a_broken_file_prints_diagnostics_to_stderr(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "graph", "bad.yaml")
    assert (code, out) == (1, "")
    assert err.splitlines()[0].startswith("bad.yaml:4:15: error[unknown-stage]")
    assert len(err.splitlines()) == 2


def test_graph_with_warnings_still_prints(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "graph", "warns.yaml", "--format", "text")
    assert code == 0
    assert out.startswith("backends:\n  o: openai\n")


# --- schema -----------------------------------------------------------------------------


def test_schema_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "schema")
    assert code == 0
    assert json.loads(out) == build_schema()
    assert out == json.dumps(build_schema(), indent=2, sort_keys=True) + "\n"


def test_schema_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "schemas"
    code, out, _ = _run(capsys, "schema", "--shipped", "--write", str(target))
    assert (code, out) == (0, f"wrote {target / SCHEMA_FILE}\n")
    assert (target / SCHEMA_FILE).read_text() == (ROOT / "schemas" / SCHEMA_FILE).read_text()


# --- the parser and the installed command ---------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nope"],
        ["check", "--format", "xml"],
        ["graph", "--format", "svg"],
        ["serve", "--port", "x"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2
    assert "usage: engine" in capsys.readouterr().err


def test_parser_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENGINE_STORE", raising=False)
    args = parser().parse_args(["serve"])
    assert (args.routes, args.host, args.port, args.no_reload, args.store) == (
        Path("routes"),
        "127.0.0.1",
        8000,
        False,
        "sqlite:///engine.db",
    )
    monkeypatch.setenv("ENGINE_STORE", "postgresql://db.internal/engine")
    assert parser().parse_args(["db", "upgrade"]).store == "postgresql://db.internal/engine"
    assert parser().parse_args(["graph"]).path == Path("routes")
    assert parser().parse_args(["check"]).paths == []


def test_installed_command_checks_the_shipped_routes() -> None:
    command = Path(sys.executable).parent / "engine"
    assert command.exists(), f"{command} is missing: install the package (`make test` does)"
    result = subprocess.run(
        [str(command), "check", "routes"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": ""},
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "ok\n", "")


def test_db_upgrade_migrates_a_new_store_then_has_nothing_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.store.database import head

    newest = head()
    store = f"sqlite:///{tmp_path / 'state' / 'engine.db'}"
    assert main(["db", "upgrade", "--store", store]) == 0
    assert f"upgraded from nothing to {newest}" in capsys.readouterr().out
    assert main(["db", "upgrade", "--store", store]) == 0
    assert f"at {newest}, the newest ({newest})" in capsys.readouterr().out


def test_db_upgrade_says_why_a_store_cannot_be_reached(
    refused_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    port = refused_url.rsplit(":", 1)[1].split("/")[0]
    store = f"postgresql://engine:secret-password@127.0.0.1:{port}/engine"
    assert main(["db", "upgrade", "--store", store]) == 1
    err = capsys.readouterr().err
    assert f"store postgresql+asyncpg://engine:***@127.0.0.1:{port}/engine" in err
    assert "secret-password" not in err


@pytest.mark.parametrize("command", ["serve", "db upgrade"])
def test_a_store_url_of_another_database_is_refused(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as raised:
        main([*command.split(), "--store", "mysql://db/engine"])
    assert raised.value.code == 2
    assert "SQLite (sqlite:///FILE) or PostgreSQL" in capsys.readouterr().err


EXPLAINED = """\
backends:
  mock: {kind: mock}
  spare: {kind: mock}
routes:
  - name: claude-ish
    match: {frontend: [anthropic], model: "claude-*"}
    request: [commands]
    backend: {strategy: failover, targets: ["mock:big?temperature=0.2", "spare"]}
  - name: default
    request: [commands]
    backend: {targets: [mock]}
"""


def test_explain_says_the_route_its_strategy_and_each_targets_parameters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "routes.yaml").write_text(EXPLAINED)
    argv = ["explain", "--routes", str(tmp_path), "--frontend", "anthropic"]
    assert main([*argv, "--model", "claude-x?max_tokens=9"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "request: model 'claude-x?max_tokens=9' on the anthropic front-end, session explain",
        "route: claude-ish (the first route whose model pattern 'claude-*' takes it, "
        "on front-end anthropic)",
        "request stages: commands",
        "strategy: failover",
        "targets, in order:",
        "  1. mock:big with temperature=0.2, max_tokens=9",
        "  2. spare:claude-x with max_tokens=9",
        "response stages: none",
    ]
    assert main([*argv[:3], "--frontend", "gemini", "--model", "claude-x"]) == 0
    assert "route: default" in capsys.readouterr().out


def test_explain_lists_the_response_stages_in_the_order_they_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "routes.yaml").write_text(
        "backends: {mock: {kind: mock}}\n"
        "pipeline: {request: [commands], response: [tool_safety]}\n"
        "routes: [{name: cline, response: [vtc, think_tags], backend: {targets: [mock]}}]\n"
    )
    argv = ["explain", "--routes", str(tmp_path), "--frontend", "openai_chat", "--model", "m"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "request stages: commands (pipeline)" in lines
    assert lines[-1] == "response stages: vtc, think_tags, tool_safety (pipeline), vtc.back"


async def test_explain_reads_the_sessions_state_from_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.store import SqlStore
    from engine.store.database import store_url

    (tmp_path / "routes.yaml").write_text(EXPLAINED)
    url = f"sqlite:///{tmp_path / 'engine.db'}"
    store = SqlStore(store_url(url))
    await store.open()
    session = await store.sessions.load("mine")
    session.set("commands", {"model": "spare:pinned", "params": {"temperature": 0.7}})
    await store.sessions.save(session)
    await store.aclose()
    argv = ["explain", "--routes", str(tmp_path), "--model", "m", "--session", "mine"]
    code = await asyncio.to_thread(main, [*argv, "--store", url])
    assert code == 0
    out = capsys.readouterr().out
    assert "model after the request stages: spare:pinned" in out
    assert "  1. spare:pinned with temperature=0.7" in out
    assert "session parameters (over every target's): temperature=0.7" in out


def test_capture_show_summarizes_a_capture_and_refuses_what_is_not_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.capture import CapturedExchange, CaptureSink, Message

    sink = CaptureSink(tmp_path / "captures")
    sink.offer(
        CapturedExchange(
            id="x-1",
            started=1_800_000_000.0,
            session="bug-7",
            frontend="anthropic",
            route="claude",
            client_request=Message(method="POST", path="/anthropic/v1/messages", body=b"{}"),
            client_response=Message(status=529, body=b"{}"),
            usage={"input": 3, "output": 4},
        )
    )
    sink.close()
    assert main(["capture", "show", str(tmp_path / "captures")]) == 0
    shown = capsys.readouterr().out
    assert "bug-7" in shown and "status=529" in shown and "claude" in shown

    (tmp_path / "notes.txt").write_text("hello")
    assert main(["capture", "show", str(tmp_path / "notes.txt")]) == 1
    assert "engine:" in capsys.readouterr().err


def test_the_json_log_format_writes_one_object_per_line() -> None:
    from engine.logs import JsonFormatter

    record = logging.LogRecord("engine.access", logging.INFO, "", 0, "GET / 200", None, None)
    record.fields = {"route": "default", "key": "sk-ant-" + "a1B2" * 10}
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["logger"], line["message"]) == (
        "info",
        "engine.access",
        "GET / 200",
    )
    assert line["route"] == "default" and line["key"] == "***"  # a credential in a field, masked
