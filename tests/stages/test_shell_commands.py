"""Which shell commands `find_danger` flags, which it lets through, and what `command_text`
reads from a shell tool's arguments."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stages.shell_commands import DEFAULT_ALLOWED, RULES, Danger, command_text, find_danger

DANGEROUS = [
    # git-reset-hard
    pytest.param("git reset --hard", "git-reset-hard", id="reset-hard"),
    pytest.param("git reset HEAD~1 --hard", "git-reset-hard", id="reset-hard-flag-last"),
    pytest.param("git -C repo reset --hard origin/main", "git-reset-hard", id="reset-hard-git-C"),
    pytest.param("git --git-dir=.git reset --hard", "git-reset-hard", id="reset-hard-git-dir"),
    pytest.param('bash -lc "git reset --hard"', "git-reset-hard", id="bash-lc"),
    pytest.param("/usr/bin/git reset --hard", "git-reset-hard", id="command-by-path"),
    # git-clean
    pytest.param("git clean -fdx", "git-clean", id="clean-fdx"),
    pytest.param("git clean -fd", "git-clean", id="clean-fd"),
    pytest.param("git clean -f -d -x", "git-clean", id="clean-separate-flags"),
    pytest.param("git clean --force -X", "git-clean", id="clean-force-ignored"),
    pytest.param("env A=1 git clean -fdx", "git-clean", id="env-assignment"),
    pytest.param("FOO=bar git clean -fdx", "git-clean", id="leading-assignment"),
    # git-push-force
    pytest.param("git push --force", "git-push-force", id="push-force"),
    pytest.param("git push -f origin main", "git-push-force", id="push-f"),
    pytest.param("git push -fu origin feature", "git-push-force", id="push-combined-fu"),
    pytest.param("git push origin main --force", "git-push-force", id="push-force-last"),
    pytest.param("git push --mirror backup", "git-push-force", id="push-mirror"),
    pytest.param("git push origin +main", "git-push-force", id="push-plus-refspec"),
    pytest.param("git push origin +HEAD:main", "git-push-force", id="push-plus-head"),
    pytest.param("cd x && git push -f", "git-push-force", id="after-and"),
    pytest.param("git push -o ci.skip -f", "git-push-force", id="push-option-value"),
    # git-push-force-with-lease (flagged only when not allowed; see test_allowed)
    # git-checkout-discard
    pytest.param("git checkout -- .", "git-checkout-discard", id="checkout-dashdash-dot"),
    pytest.param("git checkout .", "git-checkout-discard", id="checkout-dot"),
    pytest.param("git checkout HEAD -- '*'", "git-checkout-discard", id="checkout-star"),
    pytest.param("git checkout -- :/", "git-checkout-discard", id="checkout-top"),
    pytest.param("git restore .", "git-checkout-discard", id="restore-dot"),
    pytest.param("git restore --worktree .", "git-checkout-discard", id="restore-worktree"),
    pytest.param("git restore -- .", "git-checkout-discard", id="restore-dashdash"),
    pytest.param("git restore -SW ./", "git-checkout-discard", id="restore-staged-and-worktree"),
    # git-branch-force-delete
    pytest.param("git branch -D old", "git-branch-force-delete", id="branch-D"),
    pytest.param("git branch --delete --force old", "git-branch-force-delete", id="branch-long"),
    pytest.param("git branch -df old", "git-branch-force-delete", id="branch-df"),
    # rm-broad
    pytest.param("rm -rf /", "rm-broad", id="rm-root"),
    pytest.param("rm -rf /*", "rm-broad", id="rm-root-star"),
    pytest.param("rm -fr ~", "rm-broad", id="rm-home"),
    pytest.param("rm -Rf ~/", "rm-broad", id="rm-home-slash"),
    pytest.param("rm -rf ~/*", "rm-broad", id="rm-home-star"),
    pytest.param("rm -rf $HOME", "rm-broad", id="rm-dollar-home"),
    pytest.param('rm -rf "${HOME}/"', "rm-broad", id="rm-braced-home"),
    pytest.param("rm -r .", "rm-broad", id="rm-dot"),
    pytest.param("rm -rf ./", "rm-broad", id="rm-dot-slash"),
    pytest.param("rm -rf ../", "rm-broad", id="rm-parent"),
    pytest.param("rm --recursive --force .*", "rm-broad", id="rm-dotfiles"),
    pytest.param("rm -rf ./*", "rm-broad", id="rm-dot-star"),
    pytest.param("rm -rf /etc", "rm-broad", id="rm-etc"),
    pytest.param("rm -rf /usr/*", "rm-broad", id="rm-usr-star"),
    pytest.param("rm -rf //", "rm-broad", id="rm-double-slash"),
    pytest.param("rm -rf C:\\", "rm-broad", id="rm-drive-root"),
    pytest.param("rm --no-preserve-root -rf /", "rm-broad", id="rm-no-preserve-root"),
    pytest.param("rm -rf -- /", "rm-broad", id="rm-after-dashdash"),
    pytest.param("rm -rf build /", "rm-broad", id="rm-one-broad-of-many"),
    pytest.param("echo hi; rm -rf *", "rm-broad", id="after-semicolon"),
    pytest.param("make || rm -rf ~", "rm-broad", id="after-or"),
    pytest.param("ls | rm -rf /", "rm-broad", id="after-pipe"),
    pytest.param("sleep 1 & rm -rf /", "rm-broad", id="after-background"),
    pytest.param("ls\nrm -rf /", "rm-broad", id="after-newline"),
    pytest.param("echo $(rm -rf ~)", "rm-broad", id="command-substitution"),
    pytest.param('echo "$(rm -rf ~)"', "rm-broad", id="substitution-in-double-quotes"),
    pytest.param("echo `rm -rf ~`", "rm-broad", id="backticks"),
    pytest.param("(cd x && rm -rf ..)", "rm-broad", id="subshell"),
    pytest.param("{ rm -rf /; }", "rm-broad", id="brace-group"),
    pytest.param("if true; then rm -rf /; fi", "rm-broad", id="if-then"),
    pytest.param("diff <(rm -rf ~) x", "rm-broad", id="process-substitution"),
    pytest.param('r"m" -rf /', "rm-broad", id="quoted-command-word"),
    pytest.param("'rm' -rf ~", "rm-broad", id="single-quoted-command-word"),
    pytest.param("\\rm -rf /", "rm-broad", id="backslash-command-word"),
    pytest.param('rm -rf "/"', "rm-broad", id="quoted-target"),
    pytest.param("sh -c 'rm -rf /'", "rm-broad", id="sh-c"),
    pytest.param("bash -ec 'cd /; rm -rf *'", "rm-broad", id="bash-ec"),
    pytest.param("bash -o pipefail -c 'rm -rf ~'", "rm-broad", id="bash-option-value"),
    pytest.param("zsh -c \"sh -c 'rm -rf /'\"", "rm-broad", id="nested-shells"),
    pytest.param("eval 'rm -rf /'", "rm-broad", id="eval"),
    pytest.param("sudo rm -rf /", "rm-broad", id="sudo"),
    pytest.param("sudo -u root -E rm -rf /", "rm-broad", id="sudo-options"),
    pytest.param("doas rm -rf /", "rm-broad", id="doas"),
    pytest.param("env -i PATH=/bin rm -rf /", "rm-broad", id="env-options"),
    pytest.param("command rm -rf ~", "rm-broad", id="command-builtin"),
    pytest.param("builtin exec rm -rf ~", "rm-broad", id="builtin-exec"),
    pytest.param("nohup nice -n 10 rm -rf /", "rm-broad", id="nohup-nice"),
    pytest.param("time timeout 5 rm -rf /", "rm-broad", id="time-timeout"),
    pytest.param("timeout -s KILL 5m rm -rf /", "rm-broad", id="timeout-options"),
    pytest.param("xargs rm -rf /", "rm-broad", id="xargs"),
    pytest.param("find . | xargs -0 -I{} sudo rm -rf /", "rm-broad", id="xargs-options-sudo"),
    pytest.param("\x1b[31mrm\x1b[0m -rf /", "rm-broad", id="ansi-csi"),
    pytest.param("\x1b]0;title\x07rm -rf /", "rm-broad", id="ansi-osc"),
    # "rm -rf /" in fullwidth forms
    pytest.param("\uff52\uff4d \uff0d\uff52\uff46 \uff0f", "rm-broad", id="nfkc-fullwidth"),
    pytest.param("r\u200bm -rf ~", "rm-broad", id="zero-width-space"),
    pytest.param("\ufeffrm\u2060 -rf\u200d /", "rm-broad", id="zero-width-others"),
    pytest.param("rm -rf 'unclosed /", "rm-broad", id="unbalanced-quote-fallback"),
    pytest.param("rm -rf \\\n  /", "rm-broad", id="line-continuation"),
    # find-delete
    pytest.param("find . -delete", "find-delete", id="find-dot-delete"),
    pytest.param("find / -type f -delete", "find-delete", id="find-type-is-not-narrowing"),
    pytest.param("find ~ -exec rm -rf {} +", "find-delete", id="find-exec-rm"),
    pytest.param("find -delete", "find-delete", id="find-default-start"),
    pytest.param("find . -execdir rm {} \\;", "find-delete", id="find-execdir"),
    pytest.param("find $HOME -maxdepth 1 -ok rm {} ';'", "find-delete", id="find-ok"),
    pytest.param("find . ! -name keep.txt -delete", "find-delete", id="find-negated-name"),
    # disk-format
    pytest.param("mkfs.ext4 /dev/sdb1", "disk-format", id="mkfs-ext4"),
    pytest.param("mkfs -t ext4 /dev/sdb1", "disk-format", id="mkfs"),
    pytest.param("mke2fs /dev/sdb1", "disk-format", id="mke2fs"),
    pytest.param("mkswap /dev/sda2", "disk-format", id="mkswap"),
    pytest.param("wipefs -a /dev/sda", "disk-format", id="wipefs"),
    pytest.param("fdisk /dev/sda", "disk-format", id="fdisk"),
    pytest.param("sfdisk /dev/sda < table", "disk-format", id="sfdisk"),
    pytest.param("parted -s /dev/sda mklabel gpt", "disk-format", id="parted-mklabel"),
    pytest.param("shred -n 3 /dev/sda", "disk-format", id="shred-device"),
    pytest.param("dd if=/dev/zero of=/dev/sda bs=1M", "disk-format", id="dd-device"),
    pytest.param("dd if=img.iso of=/dev/disk2", "disk-format", id="dd-mac-disk"),
    pytest.param("cat image > /dev/sda", "disk-format", id="redirect-sda"),
    pytest.param("echo x >/dev/nvme0n1", "disk-format", id="redirect-nvme-glued"),
    pytest.param("cat img>>/dev/disk3", "disk-format", id="redirect-disk-no-space"),
    # permissions-broad
    pytest.param("chmod -R 777 /", "permissions-broad", id="chmod-R-root"),
    pytest.param("chown -R user ~", "permissions-broad", id="chown-R-home"),
    pytest.param("chgrp --recursive staff /usr", "permissions-broad", id="chgrp-recursive"),
    pytest.param("chmod 777 /", "permissions-broad", id="chmod-root"),
    pytest.param("chmod -R 000 .", "permissions-broad", id="chmod-R-dot"),
    pytest.param("sudo chown -R me:me /*", "permissions-broad", id="chown-root-star"),
    # fork-bomb
    pytest.param(":(){ :|:& };:", "fork-bomb", id="fork-bomb"),
    pytest.param(": ( ) { : | : & } ; :", "fork-bomb", id="fork-bomb-spaced"),
    pytest.param("f(){ f|f& };f", "fork-bomb", id="fork-bomb-renamed"),
    pytest.param("bash -c 'bomb() { bomb | bomb & }; bomb'", "fork-bomb", id="fork-bomb-in-sh-c"),
]

HARMLESS = [
    pytest.param("git push --force-with-lease", id="force-with-lease-allowed"),
    pytest.param("git push --force-if-includes --force-with-lease", id="force-if-includes"),
    pytest.param("git push origin main", id="push"),
    pytest.param("git push -u origin feature", id="push-u"),
    pytest.param("git push --delete origin old", id="push-delete"),
    pytest.param("git push -d origin old", id="push-d"),
    pytest.param("git push origin :old", id="push-colon-delete"),
    pytest.param("git reset --soft HEAD~1", id="reset-soft"),
    pytest.param("git reset HEAD file.txt", id="reset-mixed"),
    pytest.param("git clean -n -d", id="clean-dry-run"),
    pytest.param("git clean -fdn", id="clean-dry-run-combined"),
    pytest.param("git clean -f", id="clean-f-only"),
    pytest.param("git checkout -b feature", id="checkout-b"),
    pytest.param("git checkout main", id="checkout-branch"),
    pytest.param("git checkout -", id="checkout-previous"),
    pytest.param("git checkout -- src/app.py", id="checkout-one-file"),
    pytest.param("git restore --staged .", id="restore-staged"),
    pytest.param("git restore src/app.py", id="restore-one-file"),
    pytest.param("git branch -d merged", id="branch-d"),
    pytest.param("git branch -f main HEAD", id="branch-f-moves"),
    pytest.param("git commit -m 'rm -rf /'", id="commit-message"),
    pytest.param("git log --grep='reset --hard'", id="log-grep"),
    pytest.param('echo "rm -rf /"', id="echo-double-quoted"),
    pytest.param("echo rm -rf /", id="echo-unquoted"),
    pytest.param("echo '$(rm -rf ~)'", id="single-quoted-substitution"),
    pytest.param("echo ':(){ :|:& };:'", id="echo-fork-bomb"),
    pytest.param('grep -r "git reset --hard" .', id="grep"),
    pytest.param("# rm -rf /\nls", id="comment"),
    pytest.param("cat <<'EOF' > notes.md\ngit reset --hard\nrm -rf /\nEOF\necho ok", id="heredoc"),
    pytest.param("command -v rm", id="command-v"),
    pytest.param("rm -rf ./build", id="rm-build"),
    pytest.param("rm -rf build/ dist/", id="rm-build-dist"),
    pytest.param("rm -rf node_modules", id="rm-node-modules"),
    pytest.param("rm -r /tmp/foo", id="rm-tmp"),
    pytest.param("rm -rf ~/project/build", id="rm-under-home"),
    pytest.param("rm file.txt", id="rm-file"),
    pytest.param("rm -f *.pyc", id="rm-not-recursive"),
    pytest.param("rm -f /", id="rm-root-not-recursive"),
    pytest.param("rm -rf /usr/local/lib/foo", id="rm-deep-system-path"),
    pytest.param("find . -name '*.pyc' -delete", id="find-name"),
    pytest.param("find / -path '*/cache/*' -type f -delete", id="find-path"),
    pytest.param("find . -mtime +30 -exec rm {} +", id="find-mtime"),
    pytest.param("find build -delete", id="find-narrow-start"),
    pytest.param("find . -type f", id="find-no-action"),
    pytest.param("find . -exec grep x {} +", id="find-exec-grep"),
    pytest.param("chmod -R 755 ./scripts", id="chmod-R-subdir"),
    pytest.param("chmod +x run.sh", id="chmod-file"),
    pytest.param("chmod 700 ~", id="chmod-home-not-recursive"),
    pytest.param("chown -R me ~/.npm", id="chown-R-under-home"),
    pytest.param("dd if=/dev/zero of=./disk.img bs=1M count=10", id="dd-file"),
    pytest.param("dd if=/dev/sda of=backup.img", id="dd-read-device"),
    pytest.param("dd if=x of=/dev/null", id="dd-null"),
    pytest.param("cmd > /dev/null 2>&1", id="redirect-null"),
    pytest.param("echo hi >&2", id="redirect-stderr"),
    pytest.param("fdisk -l /dev/sda", id="fdisk-list"),
    pytest.param("sfdisk --dump /dev/sda", id="sfdisk-dump"),
    pytest.param("parted /dev/sda print", id="parted-print"),
    pytest.param("wipefs /dev/sda", id="wipefs-list"),
    pytest.param("mkfs --help", id="mkfs-help"),
    pytest.param("shred -u secret.txt", id="shred-file"),
    pytest.param("bash script.sh", id="bash-script-file"),
    pytest.param("sh -c 'ls -la'", id="sh-c-harmless"),
    pytest.param("ls -la && npm test", id="no-trigger"),
    pytest.param("python -c 'print(1)'", id="python"),
    pytest.param("f() { echo hi; }; f", id="function"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize(("command", "rule"), DANGEROUS)
def test_flags(command: str, rule: str) -> None:
    danger = find_danger(command)
    assert danger is not None
    assert danger.rule == rule
    assert danger.reason


@pytest.mark.parametrize("command", HARMLESS)
def test_lets_through(command: str) -> None:
    assert find_danger(command) is None


def test_every_rule_has_a_true_positive() -> None:
    flagged = {param.values[1] for param in DANGEROUS} | {"git-push-force-with-lease"}
    assert flagged == set(RULES)


@pytest.mark.parametrize(
    ("command", "rule", "line"),
    [
        pytest.param("'rm' -rf ~", "rm-broad", "rm -rf ~", id="quotes-removed"),
        pytest.param(
            'cd repo && bash -lc "git reset --hard"',
            "git-reset-hard",
            "git reset --hard",
            id="inner-command",
        ),
        pytest.param("sudo   rm\t-rf   /", "rm-broad", "sudo rm -rf /", id="one-line"),
        pytest.param("if x; then rm -rf /; fi", "rm-broad", "rm -rf /", id="no-keyword"),
        pytest.param("cat x > /dev/sda", "disk-format", "cat x > /dev/sda", id="redirect"),
    ],
)
def test_danger_names_the_simple_command(command: str, rule: str, line: str) -> None:
    danger = find_danger(command)
    assert danger is not None
    assert (danger.rule, danger.command) == (rule, line)


def test_long_command_is_cut() -> None:
    danger = find_danger("rm -rf / " + "x " * 500)
    assert danger is not None
    assert len(danger.command) == 200
    assert danger.command.startswith("rm -rf / x x")
    assert danger.command.endswith("…")


def test_reason_says_what_to_do_instead() -> None:
    assert find_danger("rm -rf ~") == Danger(
        "rm-broad",
        "rm -rf ~",
        "deletes a broad path recursively; delete the specific files or directories instead",
    )


@pytest.mark.parametrize(
    ("command", "allowed", "rule"),
    [
        pytest.param("git push -f", frozenset({"git-push-force"}), None, id="allow-force"),
        pytest.param(
            "git push --force-with-lease",
            frozenset(),
            "git-push-force-with-lease",
            id="disallow-lease",
        ),
        pytest.param("git push --force-with-lease", DEFAULT_ALLOWED, None, id="default"),
        pytest.param(
            "git reset --hard; rm -rf /",
            frozenset({"git-reset-hard"}),
            "rm-broad",
            id="next-danger-after-allowed",
        ),
    ],
)
def test_allowed(command: str, allowed: frozenset[str], rule: str | None) -> None:
    danger = find_danger(command, allowed=allowed)
    assert (danger.rule if danger else None) == rule


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        pytest.param({"command": "git status"}, "git status", id="claude-bash"),
        pytest.param({"cmd": "ls -la"}, "ls -la", id="codex-exec-command"),
        pytest.param(
            {"command": ["bash", "-lc", "git reset --hard"]},
            "bash -lc 'git reset --hard'",
            id="codex-shell-argv",
        ),
        pytest.param({"command": "npm test", "requires_approval": False}, "npm test", id="cline"),
        pytest.param({"script": "make"}, "make", id="script"),
        pytest.param({"commands": ["npm i", "npm test"]}, "npm i\nnpm test", id="commands-list"),
        pytest.param({"code": "ls"}, "ls", id="code"),
        pytest.param({"input": "pwd"}, "pwd", id="input"),
        pytest.param({"command": 3, "cmd": "ls"}, "ls", id="first-string-key"),
        pytest.param({"command": [1, 2]}, None, id="list-of-non-strings"),
        pytest.param({}, None, id="empty"),
        pytest.param({"path": "x"}, None, id="no-command-key"),
        pytest.param("rm -rf /", None, id="not-a-dict"),
        pytest.param(None, None, id="none"),
    ],
)
def test_command_text(arguments: object, expected: str | None) -> None:
    assert command_text(arguments) == expected


def test_argv_round_trips_into_find_danger() -> None:
    text = command_text({"command": ["bash", "-lc", "git reset --hard"]})
    assert text is not None
    danger = find_danger(text)
    assert danger is not None and danger.rule == "git-reset-hard"


@pytest.mark.parametrize(
    "command",
    [
        pytest.param("rm -rf '/", id="unclosed-single"),
        pytest.param('git push "-f', id="unclosed-double"),
        pytest.param("rm -rf \\", id="trailing-backslash"),
        pytest.param("rm\x00 -rf /\x00", id="nul-bytes"),
        pytest.param("rm -rf " + "a" * 200_000, id="long-word"),
        pytest.param("git push; " * 5_000, id="many-commands"),
        pytest.param("$(" * 5_000 + "rm -rf /", id="deep-substitutions"),
        pytest.param("(" * 5_000 + "rm -rf /" + ")" * 4_000, id="deep-groups"),
        pytest.param("`" * 1_001 + "rm", id="backticks"),
        pytest.param("bash -c " * 50 + "'rm -rf /'", id="deep-shells"),
        pytest.param("a" * 100_000 + "(){ a|a& }", id="long-function-name"),
        pytest.param("cat <<EOF\n" + "rm -rf /\n" * 1_000, id="unclosed-heredoc"),
        pytest.param("\x1b[" * 1_000 + "rm", id="broken-ansi"),
        pytest.param("find -exec", id="find-cut-short"),
        pytest.param("git -C", id="git-cut-short"),
        pytest.param("sudo -u", id="sudo-cut-short"),
    ],
)
def test_never_raises_on_garbage(command: str) -> None:
    find_danger(command)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("rm -f/~.*git push\"'`$(){};|&<>\\#\n\x1bc=:+"))))
def test_never_raises_on_any_text(command: str) -> None:
    danger = find_danger(command)
    assert danger is None or danger.rule in RULES
