"""What a Cline-style client sends (its headers and a system prompt that declares its tools
as tags) and a call as its model writes one."""

from __future__ import annotations

CLINE_HEADERS = {"HTTP-Referer": "https://cline.bot", "X-Title": "Cline"}
CLINE_PROMPT = """You are Cline, a software engineer.

# Tools

## execute_command
Description: Run a CLI command.
Usage:
<execute_command>
<command>Your command here</command>
<requires_approval>true or false</requires_approval>
</execute_command>

## read_file
Description: Read a file.
Usage:
<read_file>
<path>File path here</path>
</read_file>
"""


def execute_command(command: str) -> str:
    """A call to Cline's shell tool, as its model writes it."""
    return (
        f"<execute_command>\n<command>{command}</command>\n"
        "<requires_approval>false</requires_approval>\n</execute_command>"
    )
