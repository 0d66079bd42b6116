"""tool_safety: dangerous commands, tool lists and the path sandbox, as tables."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.model import Tool, ToolCallStart
from engine.sessions import SWITCHES, Session
from engine.testing import (
    make_context,
    make_stage,
    request,
    run_events,
    run_request,
    text_of,
    tool_call_stream,
)
from stages.tool_safety import ToolSafety


@pytest.mark.parametrize(
    ("name", "arguments", "rule"),
    [
        ("Bash", {"command": "git reset --hard HEAD~3"}, "git-reset-hard"),
        ("shell", {"command": ["bash", "-lc", "rm -rf ~"]}, "rm-broad"),
        ("exec_command", {"cmd": "cd repo && git push -f origin main"}, "git-push-force"),
        ("execute_command", {"command": "sudo mkfs.ext4 /dev/sda1"}, "disk-format"),
        ("run_terminal_cmd", {"command": "\x1b[0mchmod -R 777 /"}, "permissions-broad"),
        ("Bash", {"command": "git status"}, None),
        ("Bash", {"command": "git push --force-with-lease"}, None),
        ("Bash", {"command": "rm -rf ./build"}, None),
        ("read_file", {"path": "src/main.py"}, None),
    ],
    ids=[
        "reset",
        "argv-rm",
        "chained-push",
        "mkfs",
        "ansi-chmod",
        "status",
        "lease",
        "build",
        "read",
    ],
)
def test_commands(name: str, arguments: dict, rule: str | None) -> None:
    stopped = make_stage(ToolSafety).why_stopped(name, arguments)
    assert (stopped[0] if stopped else None) == rule


def test_allowed_rules_let_a_command_through() -> None:
    stage = make_stage(ToolSafety, allowed_rules=["git-push-force"])
    assert stage.why_stopped("Bash", {"command": "git push -f"}) is None
    with pytest.raises(ValidationError, match="unknown rules"):
        make_stage(ToolSafety, allowed_rules=["push"])


async def test_tool_lists_filter_definitions_and_stop_calls() -> None:
    stage = make_stage(ToolSafety, allow_tools=["read_*", "Bash"], deny_tools=["Bash"])
    tools = [Tool(name=n) for n in ("read_file", "Bash", "write_file")]
    ctx = make_context(request("hi", tools=tools))
    await run_request(stage, ctx)
    assert [t.name for t in ctx.request.tools] == ["read_file"]
    assert stage.why_stopped("write_file", {})[0] == "tool-denied"  # type: ignore[index]
    assert stage.why_stopped("read_file", {}) is None


def test_the_path_sandbox_resolves_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    os.symlink("/etc", root / "escape")
    stage = make_stage(ToolSafety, project_root=str(root))
    assert stage.why_stopped("read_file", {"path": "src/a.py"}) is None
    assert stage.why_stopped("read_file", {"path": str(root / "src")}) is None
    for outside in ("../other/a.py", "/etc/passwd", "escape/passwd", "~/.ssh/id_rsa"):
        stopped = stage.why_stopped("read_file", {"file_path": outside})
        assert stopped is not None and stopped[0] == "path-outside-root", outside


async def test_a_stopped_call_becomes_a_note_in_the_stream() -> None:
    stage = make_stage(ToolSafety)
    arguments = json.dumps({"command": "git reset --hard"})
    stream = tool_call_stream("Bash", arguments[:10], arguments[10:])
    events = await run_events(stage, make_context(request("hi")), stream)
    assert not any(isinstance(e, ToolCallStart) for e in events)
    assert "`git reset --hard`" in text_of(events) and "rule git-reset-hard" in text_of(events)
    assert events[-1].reason == "stop"  # type: ignore[union-attr]
    assert stage.blocked["git-reset-hard"] == 1


async def test_a_session_may_turn_it_off() -> None:
    session = Session("s")
    session.set(SWITCHES, {"tool-safety": False})
    stream = tool_call_stream("Bash", json.dumps({"command": "git reset --hard"}))
    events = await run_events(
        make_stage(ToolSafety), make_context(request("hi"), session=session), stream
    )
    assert any(isinstance(e, ToolCallStart) for e in events)
