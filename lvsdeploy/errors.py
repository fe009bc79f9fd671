"""Problems found in an inventory, and the one exception that carries all of them.

Every problem names the file where the offending value was written (and its line when known), the place
inside the cluster (host, service, share, variable) and what is wrong, so that users can fix all of them
in one edit instead of one per run.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """Where a value was written: a file as the user named it, and a 1-based line when known."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"

    def problem(self, where: str, what: str) -> Problem:
        return Problem(self.file, self.line, where, what)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    where: str
    what: str

    def __str__(self) -> str:
        place = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{place}: {self.where}: {self.what}"


class InventoryError(Exception):
    """The inventory cannot be used; `problems` lists everything that was found wrong, in file order."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def did_you_mean(word: str, known: list[str] | tuple[str, ...], list_all: bool = False) -> str:
    """"; did you mean 'x'?" for a close match, else the known names (when asked) or nothing."""
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    if list_all and known:
        return f" (known: {', '.join(known)})"
    return ""
