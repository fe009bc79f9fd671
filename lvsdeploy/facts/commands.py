"""Exit status of `unless` tests (for the `command` module).

Each test runs in its own `sh -c` with no input and no output, under a time limit so that a test that hangs
cannot hang the facts run. Tests are the user's and must only look, never change anything.
"""

from __future__ import annotations

import base64
import shlex

UNLESS_TIMEOUT = 60


def unless_snippet(tests) -> str:
    lines = []
    for test in sorted(tests):
        tag = base64.b64encode(test.encode()).decode()
        lines.append(
            f"timeout {UNLESS_TIMEOUT} sh -c {shlex.quote(test)} </dev/null >/dev/null 2>&1; "
            f"printf 'unless {tag} %s\\n' \"$?\""
        )
    return "\n".join(lines)


def parse_unless(text: str) -> dict[str, int]:
    results = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "unless":
            results[base64.b64decode(parts[1]).decode()] = int(parts[2])
    return results
