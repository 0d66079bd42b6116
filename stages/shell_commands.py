"""Dangerous shell commands in a coding agent's tool call: `git reset --hard`, `rm -rf ~`, ….

`find_danger` reads a command line roughly as a shell would: it sees through quoting, ANSI
and Unicode disguises, command lists, `$(…)` and backticks, wrappers (`sudo`, `env`, `xargs`,
…) and `bash -c "…"`, then checks each simple command against `RULES`. Only command words
count (`echo "rm -rf /"` is harmless) and heredoc bodies are text, not commands. It runs
nothing and never raises.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

_MAX_DEPTH = 5  # nested substitutions and `sh -c` scripts looked into
_MAX_LINE = 200  # characters of the offending command kept for the message


@dataclass(frozen=True, slots=True)
class Danger:
    """A simple command that a rule flags, and what to tell the agent."""

    rule: str
    command: str
    reason: str


# Rule name -> (what it flags, what the agent is told).
_RULES: dict[str, tuple[str, str]] = {
    "git-reset-hard": (
        "`git reset --hard`",
        "discards uncommitted work; commit or stash first",
    ),
    "git-clean": (
        "`git clean -f` with -d, -x or -X",
        "deletes untracked files for good; review with `git clean -n`, then remove specific paths",
    ),
    "git-push-force": (
        "`git push --force`, `-f`, `--mirror` or a `+refspec`",
        "overwrites the remote branch's history; push without force, or pull and merge first",
    ),
    "git-push-force-with-lease": (
        "`git push --force-with-lease` or `--force-if-includes`",
        "rewrites the remote branch's history; push without force unless the user asked for it",
    ),
    "git-checkout-discard": (
        "`git checkout .` or `git restore .` over a broad path",
        "discards uncommitted changes to every file; commit or stash first, or name the files",
    ),
    "git-branch-force-delete": (
        "`git branch -D` (or `--delete --force`)",
        "deletes a branch even if unmerged, losing its commits; merge it first or use -d",
    ),
    "rm-broad": (
        "recursive `rm` of `/`, `~`, `.`, `*`, a system directory, or --no-preserve-root",
        "deletes a broad path recursively; delete the specific files or directories instead",
    ),
    "find-delete": (
        "`find` over a broad path with -delete or -exec rm and no -name/-path/… test",
        "deletes everything under a broad path; add a -name or -path test, or name the files",
    ),
    "disk-format": (
        "mkfs, wipefs, fdisk/sfdisk/parted writes, or shred/dd/`>` onto a disk device",
        "overwrites a disk device and all its data; work on a file or image instead",
    ),
    "permissions-broad": (
        "recursive chmod/chown/chgrp of a broad path, or any of `/` or a system directory",
        "changes permissions across a broad path; change the specific files instead",
    ),
    "fork-bomb": (
        "a function that pipes into itself in the background, like `:(){ :|:& };:`",
        "spawns processes until the machine hangs; do not run it",
    ),
}

RULES: dict[str, str] = {name: flags for name, (flags, _) in _RULES.items()}
DEFAULT_ALLOWED: frozenset[str] = frozenset({"git-push-force-with-lease"})

_ARGUMENT_KEYS = ("command", "cmd", "script", "commands", "code", "input")


def command_text(arguments: object) -> str | None:
    """The command line in a shell-like tool's parsed JSON arguments, or None.

    The first of "command", "cmd", "script", "commands", "code", "input" holding a string,
    or a list of strings: an argv (Codex's `["bash", "-lc", "…"]`) is joined with
    `shlex.join` so it parses back the same; a "commands" list is one command per line.
    """
    if not isinstance(arguments, dict):
        return None
    for key in _ARGUMENT_KEYS:
        value = arguments.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
            return "\n".join(value) if key == "commands" else shlex.join(value)
    return None


def find_danger(command: str, *, allowed: frozenset[str] = DEFAULT_ALLOWED) -> Danger | None:
    """The first dangerous simple command in `command` whose rule is not in `allowed`."""
    text = _normalised(command)
    if not _TRIGGER.search(text.translate(_NO_QUOTING)):
        return None
    for rule, line in _dangers(text, 0):
        if rule not in allowed:
            return Danger(rule, line, _RULES[rule][1])
    return None


# --- Reading the command line --------------------------------------------------------------

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_NO_QUOTING = str.maketrans("", "", "'\"\\")
_NO_QUOTES = str.maketrans("", "", "'\"")
# Words without which no rule can match: most commands are let through on this alone.
_TRIGGER = re.compile(
    r"\b(?:git|rm|find|dd|shred|mkfs|mke2fs|mkswap|wipefs|s?fdisk|parted|ch(?:mod|own|grp))\b"
    r"|/dev/|\(\s*\)"
)
_OUTSIDE = re.compile(r"""[\\'"`$;&|()<>#\n]""")
_IN_DOUBLE = re.compile(r'[\\"`$]')
_HEREDOC = re.compile(r"<<(-?)\s*(['\"]?)([^\s'\"<>;&|()]+)\2")
_REDIRECT = re.compile(r"(?:\d+|&)?(>>?|>\||>&|<<?<?|<>|<&)(.*)", re.DOTALL)
_FORK_BOMB = re.compile(
    r"(?<![^\s;&|(){}])([^\s(){};|&<>'\"]{1,64})\s*\(\s*\)\s*\{\s*\1\s*\|\s*\1\s*&?\s*;?\s*\}"
)
_QUOTED = re.compile(r"""'[^']*'|"(?:[^"\\]|\\.)*\"""")


def _normalised(text: str) -> str:
    """`text` without ANSI escapes, in NFKC form, without zero-width characters."""
    text = _ANSI.sub("", text)
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)


def _dangers(text: str, depth: int) -> Iterator[tuple[str, str]]:
    """(rule, offending simple command) for each danger in `text`, in order."""
    if "(" in text and (bomb := _FORK_BOMB.search(_QUOTED.sub("", text))):
        yield "fork-bomb", bomb[0]
    for segment in _simple_commands(text, depth):
        if not _TRIGGER.search(segment.translate(_NO_QUOTING)):
            continue
        tokens = _tokens(segment)
        while tokens and tokens[0] in _KEYWORDS:  # `then rm -rf /` runs `rm -rf /`
            del tokens[0]
        line = _one_line(tokens)
        argv, outputs = _without_redirections(tokens)
        if any(_DISK.match(_path(target)) for target in outputs):
            yield "disk-format", line
        argv = _unwrapped(argv)
        if not argv:
            continue
        name = _name(argv[0])
        if name in _SHELLS or name == "eval":
            script = " ".join(argv[1:]) if name == "eval" else _shell_script(argv[1:])
            if script is not None and depth < _MAX_DEPTH:
                yield from _dangers(script, depth + 1)
            continue
        check = _CHECKS.get(name) or (_mkfs if name.startswith("mkfs.") else None)
        if check and (rule := check(argv[1:])):
            yield rule, line


def _simple_commands(text: str, depth: int) -> list[str]:
    """The simple commands in `text`, those inside `$(…)`, backticks and `(…)` included."""
    found: list[str] = []
    _scan(text, 0, depth, "", found)
    return found


def _scan(text: str, pos: int, depth: int, closer: str, found: list[str]) -> int:
    """Add to `found` the simple commands from `pos` up to `closer`; return the index after it."""
    parts: list[str] = []
    quote = ""
    parens = 0  # unquoted `(` kept as text, as in `f()`, whose `)` is text too
    heredocs: list[tuple[str, bool]] = []
    while pos < len(text):
        if quote == "'":
            end = text.find("'", pos) + 1 or len(text)
            parts.append(text[pos:end])
            pos, quote = end, ""
            continue
        match = (_IN_DOUBLE if quote else _OUTSIDE).search(text, pos)
        if match is None:
            parts.append(text[pos:])
            break
        start = match.start()
        parts.append(text[pos:start])
        char, pos, after = text[start], start + 1, text[start + 1 : start + 2]
        if char == "\\":
            if after != "\n":  # a backslash-newline joins lines
                parts.append(text[start : start + 2])
            pos += 1
        elif char == closer and not (char == ")" and parens):
            _flush(parts, found)
            return pos
        elif (char == "`" or (after == "(" and char in "$<>")) and depth < _MAX_DEPTH:
            body, closing = (pos, "`") if char == "`" else (pos + 1, ")")
            pos = _scan(text, body, depth + 1, closing, found)
            parts.append("_")
        elif char in "'\"":
            quote = "" if quote else char
            parts.append(char)
        elif char == "#" and _last_char(parts).isspace():
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
        elif char in ";\n":
            _flush(parts, found)
            if char == "\n":
                for delimiter, strip_tabs in heredocs:
                    pos = _heredoc_end(text, pos, delimiter, strip_tabs)
                heredocs.clear()
        elif char in "&|" and not (char == "&" and (after == ">" or _last_char(parts) in "<>")):
            _flush(parts, found)
            if after == char or (char == "|" and after == "&"):
                pos += 1
        elif char == "(" and not "".join(parts).strip() and depth < _MAX_DEPTH:
            pos = _scan(text, pos, depth + 1, ")", found)
        elif char == "(" or (char == ")" and parens):
            parens += 1 if char == "(" else -1
            parts.append(char)
        elif char == ")":
            _flush(parts, found)
        elif char == "<" and (heredoc := _HEREDOC.match(text, start)):
            heredocs.append((heredoc[3], heredoc[1] == "-"))
            parts.append(f" {heredoc[0]} ")
            pos = heredoc.end()
        elif char in "<>":
            if _last_char(parts) not in "0123456789&<>":
                parts.append(" ")  # `a>b` is `a >b`
            parts.append(char)
        else:
            parts.append(char)
    _flush(parts, found)
    return len(text)


def _last_char(parts: list[str]) -> str:
    """The last character of the command being read; a space at its start."""
    for part in reversed(parts):
        if part:
            return part[-1]
    return " "


def _flush(parts: list[str], found: list[str]) -> None:
    if segment := "".join(parts).strip():
        found.append(segment)
    parts.clear()


def _heredoc_end(text: str, pos: int, delimiter: str, strip_tabs: bool) -> int:
    """Where the text after a heredoc body starting at `pos` begins."""
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        line = text[pos:end]
        pos = end + 1
        if (line.lstrip("\t") if strip_tabs else line) == delimiter:
            break
    return min(pos, len(text))


def _tokens(segment: str) -> list[str]:
    """The words of a simple command, quotes removed; split at spaces if a quote is unclosed."""
    try:
        return shlex.split(segment)
    except ValueError:
        return segment.translate(_NO_QUOTES).split()


def _one_line(tokens: Sequence[str]) -> str:
    line = " ".join(" ".join(tokens).split())
    return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 1] + "…"


def _without_redirections(tokens: Sequence[str]) -> tuple[list[str], list[str]]:
    """The words of a command without its redirections, and the files it writes to."""
    argv: list[str] = []
    outputs: list[str] = []
    words = iter(tokens)
    for word in words:
        if (match := _REDIRECT.fullmatch(word)) is None:
            argv.append(word)
            continue
        target = match[2] or next(words, "")
        if ">" in match[1]:
            outputs.append(target)
    return argv, outputs


# --- Wrappers: words that run the rest of the command ----------------------------------

_KEYWORDS = frozenset({"{", "}", "!", "if", "then", "else", "elif", "do", "while", "until"})
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh"})
# Wrapper -> (its options that take a value, how many operands come before the command).
_WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "sudo": (
        frozenset(
            {"-u", "-g", "-C", "-D", "-p", "-r", "-t", "-T", "-U", "--user", "--group"}
            | {"--chdir", "--close-from", "--prompt", "--role", "--type", "--other-user"}
            | {"--command-timeout", "--host"}
        ),
        0,
    ),
    "doas": (frozenset({"-u", "-C"}), 0),
    "env": (frozenset({"-u", "--unset", "-C", "--chdir", "-S", "--split-string"}), 0),
    "command": (frozenset(), 0),
    "builtin": (frozenset(), 0),
    "exec": (frozenset({"-a"}), 0),
    "nohup": (frozenset(), 0),
    "time": (frozenset({"-f", "--format", "-o", "--output"}), 0),
    "nice": (frozenset({"-n", "--adjustment"}), 0),
    "timeout": (frozenset({"-s", "--signal", "-k", "--kill-after"}), 1),
    "xargs": (
        frozenset({"-a", "-d", "-E", "-I", "-L", "-n", "-P", "-s", "--arg-file", "--delimiter"})
        | {"--max-args", "--max-procs", "--max-chars", "--process-slot-var"},
        0,
    ),
}


def _name(word: str) -> str:
    """A command word without its directory: `/usr/bin/git` is `git`."""
    return word.rsplit("/", 1)[-1]


def _unwrapped(argv: list[str]) -> list[str]:
    """The command that `argv` runs, past assignments and wrappers like `sudo`."""
    while argv:
        if _ASSIGNMENT.match(argv[0]):
            argv = argv[1:]
            continue
        name = _name(argv[0])
        if name not in _WRAPPERS:
            return argv
        with_value, operands = _WRAPPERS[name]
        options, argv = _split_options(argv[1:], with_value)
        if name == "command" and any("v" in option.lower() for option in options):
            return []  # `command -v rm` only looks rm up
        argv = argv[operands:]
    return argv


def _split_options(args: list[str], with_value: frozenset[str]) -> tuple[list[str], list[str]]:
    """A wrapper's leading options, and the words after them."""
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] != "-":
        if args[i] == "--":
            return args[:i], args[i + 1 :]
        i += 2 if args[i] in with_value else 1
    return args[:i], args[i:]


def _shell_script(args: Sequence[str]) -> str | None:
    """The script of `sh -c 'script'` (also `-lc`, `-ec`, …); None when it runs a file."""
    reads_string = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
            i += 2
            continue
        if arg == "--":
            i += 1
            break
        if len(arg) < 2 or arg[0] not in "-+":
            break
        reads_string = reads_string or (arg[0] == "-" and arg[1] != "-" and "c" in arg)
        i += 1
    return args[i] if reads_string and i < len(args) else None


# --- Paths ------------------------------------------------------------------------------

_SYSTEM_DIRS = frozenset(
    {"/etc", "/usr", "/bin", "/boot", "/dev", "/home", "/lib", "/lib64", "/opt", "/proc"}
    | {"/root", "/sbin", "/srv", "/sys", "/var"}
)
_SYSTEM_ROOTS = _SYSTEM_DIRS | {"/"}
_BROAD_ROOTS = _SYSTEM_ROOTS | {"~", ".", ".."}
_DRIVE_ROOT = re.compile(r"[A-Za-z]:[\\/]+\*?")
_BROAD_PATHSPECS = frozenset({":/", ":/*", ":/.", ":(top)", ":(top)*", ":(top)."})
_DISK = re.compile(
    r"/dev/(?:[shv]d[a-z]|xvd[a-z]|nvme\d|mmcblk\d|disk|rdisk|md\d|dm-|mapper/|loop\d)"
)
_HARMLESS_DEVICES = frozenset(
    "/dev/" + name
    for name in ("null", "zero", "full", "stdin", "stdout", "stderr", "tty", "random", "urandom")
)
_HARMLESS_DEVICE_DIRS = ("/dev/fd/", "/dev/pts/", "/dev/shm/", "/dev/tcp/", "/dev/udp/")


def _path(word: str) -> str:
    """`word` as a path: `~`, `$HOME` and `${HOME}` as `~`, without trailing `/` or `/.`."""
    for home in ("${HOME}", "$HOME", "~"):
        if word == home or word.startswith(home + "/"):
            word = "~" + word[len(home) :]
            break
    word = re.sub(r"/{2,}", "/", word)
    while True:
        if len(word) > 1 and word.endswith("/"):
            word = word[:-1]
        elif word.endswith("/."):
            word = word[:-2] or "/"
        else:
            return word


def _is_broad(word: str) -> bool:
    """Whether `word` names everything: `/`, `~`, `.`, `*`, a system directory, or all in one."""
    if _DRIVE_ROOT.fullmatch(word):
        return True
    path = _path(word)
    if path in ("*", ".*"):
        return True
    for everything in ("/*", "/.*"):
        if path.endswith(everything):
            path = path[: -len(everything)] or "/"
            break
    return path in _BROAD_ROOTS


def _is_broad_pathspec(word: str) -> bool:
    return word in _BROAD_PATHSPECS or _is_broad(word)


def _is_device(word: str) -> bool:
    """Whether `word` is a device under /dev/ that holds data (not /dev/null, a tty, …)."""
    path = _path(word)
    return (
        path.startswith("/dev/")
        and path not in _HARMLESS_DEVICES
        and not path.startswith(_HARMLESS_DEVICE_DIRS)
    )


# --- The rules, one check per command ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Options:
    """A command's flags (`-r` for each letter of `-rf`, `--force` for `--force=x`) and operands."""

    flags: frozenset[str]
    operands: tuple[str, ...]


def _options(args: Sequence[str], with_value: frozenset[str] = frozenset()) -> _Options:
    """`args` read the getopt way; an option in `with_value` takes the word after it."""
    flags: set[str] = set()
    operands: list[str] = []
    words = iter(args)
    for word in words:
        if word == "--":
            operands.extend(words)
        elif word.startswith("--"):
            flags.add(name := word.split("=", 1)[0])
            if name in with_value and "=" not in word:
                next(words, None)
        elif word.startswith("-") and len(word) > 1:
            for i, letter in enumerate(word[1:], start=2):
                flags.add("-" + letter)
                if "-" + letter in with_value:
                    if i == len(word):  # its value is the next word, not the rest of this one
                        next(words, None)
                    break
        else:
            operands.append(word)
    return _Options(frozenset(flags), tuple(operands))


_Check = Callable[[Sequence[str]], str | None]
_GIT_VALUE_OPTIONS = frozenset(
    {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--config-env", "--super-prefix"}
)


def _git(args: Sequence[str]) -> str | None:
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in _GIT_VALUE_OPTIONS else 1
    check = _GIT_CHECKS.get(args[i]) if i < len(args) else None
    return check(args[i + 1 :]) if check else None


def _git_reset(args: Sequence[str]) -> str | None:
    return "git-reset-hard" if "--hard" in _options(args).flags else None


def _git_clean(args: Sequence[str]) -> str | None:
    flags = _options(args, frozenset({"-e", "--exclude"})).flags
    if flags & {"-n", "--dry-run"} or not flags & {"-f", "--force"}:
        return None
    return "git-clean" if flags & {"-d", "-x", "-X"} else None


def _git_push(args: Sequence[str]) -> str | None:
    options = _options(args, frozenset({"-o", "--push-option", "--repo", "--receive-pack"}))
    refspecs = options.operands[1:]  # after the remote
    if options.flags & {"-f", "--force", "--mirror"} or any(r.startswith("+") for r in refspecs):
        return "git-push-force"
    if options.flags & {"--force-with-lease", "--force-if-includes"}:
        return "git-push-force-with-lease"
    return None


def _git_checkout(args: Sequence[str]) -> str | None:
    options = _options(args)
    if options.flags & {"-b", "-B", "--orphan"}:
        return None
    return "git-checkout-discard" if any(map(_is_broad_pathspec, options.operands)) else None


def _git_restore(args: Sequence[str]) -> str | None:
    options = _options(args, frozenset({"-s", "--source"}))
    if options.flags & {"-S", "--staged"} and not options.flags & {"-W", "--worktree"}:
        return None  # only unstages
    return "git-checkout-discard" if any(map(_is_broad_pathspec, options.operands)) else None


def _git_branch(args: Sequence[str]) -> str | None:
    flags = _options(args).flags
    forced = "-D" in flags or (flags & {"-d", "--delete"} and flags & {"-f", "--force"})
    return "git-branch-force-delete" if forced else None


def _rm(args: Sequence[str]) -> str | None:
    options = _options(args)
    if "--no-preserve-root" in options.flags:
        return "rm-broad"
    recursive = options.flags & {"-r", "-R", "--recursive"}
    return "rm-broad" if recursive and any(map(_is_broad, options.operands)) else None


_FIND_NARROWING = frozenset(
    {"-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename", "-regex", "-iregex"}
    | {"-lname", "-ilname", "-mtime", "-mmin", "-atime", "-amin", "-ctime", "-cmin", "-size"}
    | {"-user", "-group", "-uid", "-gid", "-empty", "-perm", "-links", "-inum", "-samefile"}
)
_FIND_EXEC = frozenset({"-exec", "-execdir", "-ok", "-okdir"})


def _find(args: Sequence[str]) -> str | None:
    i = 0
    while i < len(args) and (args[i] in ("-H", "-L", "-P", "-D") or args[i].startswith("-O")):
        i += 2 if args[i] == "-D" else 1
    starts = []
    while i < len(args) and not args[i].startswith(("-", "(", "!", ")", ",")):
        starts.append(args[i])
        i += 1
    deletes = narrowed = False
    while i < len(args):
        word = args[i]
        if word == "-delete":
            deletes = True
        elif word in _FIND_EXEC:
            end = next((j for j in range(i + 1, len(args)) if args[j] in (";", "+")), len(args))
            command = _unwrapped(list(args[i + 1 : end]))
            deletes = deletes or (bool(command) and _name(command[0]) == "rm")
            i = end
        elif word in _FIND_NARROWING or word.startswith("-newer"):
            narrowed = narrowed or args[i - 1] not in ("!", "-not")  # `! -name x` is wider
        i += 1
    broad = any(map(_is_broad, starts or ["."]))
    return "find-delete" if deletes and broad and not narrowed else None


def _dd(args: Sequence[str]) -> str | None:
    writes = any(arg.startswith("of=") and _is_device(arg[3:]) for arg in args)
    return "disk-format" if writes else None


def _shred(args: Sequence[str]) -> str | None:
    options = _options(args, frozenset({"-n", "-s", "--iterations", "--size", "--random-source"}))
    return "disk-format" if any(map(_is_device, options.operands)) else None


def _mkfs(args: Sequence[str]) -> str | None:
    return "disk-format" if _options(args).operands else None  # not just `--help`


def _wipefs(args: Sequence[str]) -> str | None:
    flags = _options(args, frozenset({"-o", "--offset", "-t", "--types", "-O", "--output"})).flags
    erases = flags & {"-a", "--all", "-o", "--offset"} and not flags & {"-n", "--no-act"}
    return "disk-format" if erases else None


_TABLE_READING = frozenset(
    {"-l", "--list", "-x", "--list-details", "-d", "--dump", "-J", "--json", "-s", "--getsz"}
    | {"--show-size", "-V", "--verify", "-g", "--show-geometry", "-F", "--list-free", "-T"}
    | {"--list-types", "-n", "--no-act", "-h", "--help", "-v", "--version"}
)
_TABLE_VALUE_OPTIONS = frozenset(
    {"-b", "--sector-size", "-o", "--output", "-t", "--type", "-w", "--wipe", "-W"}
    | {"--wipe-partitions", "-C", "-H", "-S", "-N", "--partno", "-O", "--backup-file"}
    | {"-X", "--label", "-Y", "--label-nested"}
)
_PARTED_WRITES = frozenset(
    {"mklabel", "mktable", "mkpart", "mkpartfs", "rm", "resize", "resizepart", "move", "cp"}
    | {"rescue", "name", "set", "toggle", "type", "disk_set", "disk_toggle"}
)


def _partition_table(args: Sequence[str]) -> str | None:
    """fdisk and sfdisk, which write unless only listing or dumping."""
    options = _options(args, _TABLE_VALUE_OPTIONS)
    writes = options.operands and not options.flags & _TABLE_READING
    return "disk-format" if writes else None


def _parted(args: Sequence[str]) -> str | None:
    words = _options(args, frozenset({"-a", "--align"})).operands
    return "disk-format" if _PARTED_WRITES.intersection(words) else None


def _permissions(args: Sequence[str]) -> str | None:
    options = _options(args)
    if options.flags & {"-R", "--recursive"} and any(map(_is_broad, options.operands)):
        return "permissions-broad"
    at_root = any(_path(operand) in _SYSTEM_ROOTS for operand in options.operands)
    return "permissions-broad" if at_root else None


_GIT_CHECKS: dict[str, _Check] = {
    "reset": _git_reset,
    "clean": _git_clean,
    "push": _git_push,
    "checkout": _git_checkout,
    "restore": _git_restore,
    "branch": _git_branch,
}
_CHECKS: dict[str, _Check] = {
    "git": _git,
    "rm": _rm,
    "find": _find,
    "dd": _dd,
    "shred": _shred,
    "mkfs": _mkfs,
    "mke2fs": _mkfs,
    "mkswap": _mkfs,
    "wipefs": _wipefs,
    "fdisk": _partition_table,
    "sfdisk": _partition_table,
    "parted": _parted,
    "chmod": _permissions,
    "chown": _permissions,
    "chgrp": _permissions,
}
