#!/usr/bin/python3
"""A Cisco-IOS-like exec CLI answering from recorded outputs (stdlib only).

Run by OpenSSH as `ForceCommand /usr/bin/python3 fake_cisco_cli.py OUTPUT_DIR` for the test user.
OUTPUT_DIR holds `<command with underscores>.txt` (e.g. `show_version.txt`) and `hostname`.

* exec channel (`ssh host 'sh ver'`): SSH_ORIGINAL_COMMAND is answered, exit status 0, or 1 after
  `% Invalid input detected at '^' marker.` / `% Ambiguous command`.
* interactive shell: prints `HOSTNAME#`, answers each line, until exit/quit/logout or EOF.

Words may be abbreviated as on IOS (`sh ip int br`), as long as each is unambiguous.
`terminal length 0`, `terminal width 511` and `enable` are accepted silently (output is never
paged).
"""

from __future__ import annotations

import os
import sys

SILENT = ("terminal length", "terminal width", "terminal monitor", "enable")
LEAVE = ("exit", "quit", "logout")


def load(out_dir: str) -> tuple[str, dict[tuple[str, ...], str]]:
    """The hostname and {command words: output path}."""
    commands: dict[tuple[str, ...], str] = {}
    for name in os.listdir(out_dir):
        if name.endswith(".txt"):
            commands[tuple(name[:-4].split("_"))] = os.path.join(out_dir, name)
    try:
        with open(os.path.join(out_dir, "hostname")) as fh:
            hostname = fh.read().strip() or "Switch"
    except OSError:
        hostname = "Switch"
    return hostname, commands


def match(words: list[str], known: list[tuple[str, ...]]) -> tuple[str, int, object]:
    """('ok', 0, key) | ('invalid', word index, None) | ('ambiguous', index, None).

    A known command matches when every typed word is a prefix of its word at that position;
    extra typed words (arguments) are only accepted for the silent commands.
    """
    candidates = list(known)
    for i, word in enumerate(words):
        narrowed = [c for c in candidates if len(c) > i and c[i].startswith(word.lower())]
        if not narrowed:
            return ("invalid", i, None)
        exact = [c for c in narrowed if c[i] == word.lower()]
        narrowed = exact or narrowed
        if len({c[i] for c in narrowed}) > 1:
            return ("ambiguous", i, None)
        candidates = narrowed
    full = [c for c in candidates if len(c) == len(words)]
    if len(full) == 1:
        return ("ok", 0, full[0])
    return ("incomplete", len(words), None)


def respond(
    line: str, hostname: str, commands: dict[tuple[str, ...], str]
) -> tuple[str, int, bool]:
    """(output, exit status, keep going) for one command line."""
    words = line.split()
    if not words:
        return "", 0, True
    builtins = {tuple(s.split()): s for s in (*SILENT, *LEAVE)}
    for size in (2, 1):  # silent/leave commands take arguments ("terminal length 0")
        head = words[:size]
        kind, _, key = match(head, list(builtins))
        if kind == "ok" and isinstance(key, tuple):
            return "", 0, builtins[key] not in LEAVE
    kind, index, key = match(words, list(commands))
    if kind == "ok" and isinstance(key, tuple):
        with open(commands[key]) as fh:
            return fh.read(), 0, True
    if kind == "ambiguous":
        return f'% Ambiguous command:  "{line.strip()}"\n', 1, True
    if kind == "incomplete":
        return "% Incomplete command.\n", 1, True
    # caret under the first character of the offending word, as IOS aligns it after the prompt
    column = len(hostname) + 1 + line.index(words[index], sum(len(w) + 1 for w in words[:index]))
    return f"{' ' * column}^\n% Invalid input detected at '^' marker.\n", 1, True


def main() -> int:
    hostname, commands = load(sys.argv[1])
    tty = os.isatty(1)

    def write(text: str) -> None:
        sys.stdout.write(text.replace("\n", "\r\n") if tty else text)
        sys.stdout.flush()

    exec_command = os.environ.get("SSH_ORIGINAL_COMMAND")
    if exec_command is not None:
        out, status, _ = respond(exec_command, hostname, commands)
        write(out)
        return status
    write(f"\n{hostname}#")
    while True:
        raw = sys.stdin.readline()
        if not raw:
            return 0
        out, _, going = respond(raw.rstrip("\r\n"), hostname, commands)
        write(out)
        if not going:
            return 0
        write(f"{hostname}#")


if __name__ == "__main__":
    sys.exit(main())
