"""A shell command, run only when the path it creates does not exist yet.

Without that guard a command would run on every apply, so a plan could never come back empty. Roles quote
every value they put into `cmd` with the `quote` filter (shlex.quote).
"""

from __future__ import annotations

from lvsdeploy.modules.base import Change, FactsRequest, ModuleError, as_str, check_args, q
from lvsdeploy.modules.file import check_path

NAME = "command"


def _args(args: dict) -> dict:
    check_args(NAME, args, ("cmd", "creates"))
    return {"cmd": as_str(NAME, "cmd", args["cmd"]), "creates": check_path(NAME, args["creates"])}


def facts_needed(args: dict) -> FactsRequest:
    return FactsRequest(files={_args(args)["creates"]})


def plan(args: dict, facts) -> list[Change]:
    a = _args(args)
    fact = facts.files.get(a["creates"])
    if fact is None:
        raise ModuleError(f"{NAME}: no facts were read for {a['creates']} (facts_needed was not merged)")
    if fact.exists:
        return []
    first = a["cmd"].strip().splitlines()[0]
    summary = first if len(first) <= 60 and first == a["cmd"].strip() else first[:57] + "..."
    # sh -c: the command's own `exit` or `set` cannot end or change the apply script around it.
    return [
        Change(
            f"command {summary}",
            (f"~ because {a['creates']} does not exist", f"+ run: {a['cmd']}"),
            (f"sh -c {q(a['cmd'])}",),
        )
    ]
