"""A shell command, run only when its guard says the work is not done yet.

Without a guard a command would run on every apply, so a plan could never come back empty: such a task is
refused. `creates` names a path the command makes; `unless` is a read-only shell test that succeeds when the
work is already done (it runs during facts, on the host).
"""

from __future__ import annotations

from lvsdeploy.modules.base import Change, FactsRequest, ModuleError, as_str, check_args, q
from lvsdeploy.modules.file import check_path

NAME = "command"


def _args(args: dict) -> dict:
    check_args(NAME, args, ("cmd",), ("creates", "unless"))
    a = {
        "cmd": as_str(NAME, "cmd", args["cmd"]),
        "creates": check_path(NAME, args["creates"]) if args.get("creates") is not None else None,
        "unless": as_str(NAME, "unless", args["unless"]) if args.get("unless") is not None else None,
    }
    if a["creates"] is None and a["unless"] is None:
        raise ModuleError(
            f"{NAME}: {a['cmd']!r} has no guard; give creates (a path it makes) or unless (a test that succeeds"
            " when it is done), otherwise it would run on every apply"
        )
    return a


def facts_needed(args: dict) -> FactsRequest:
    a = _args(args)
    return FactsRequest(
        files={a["creates"]} if a["creates"] else set(), unless={a["unless"]} if a["unless"] else set()
    )


def plan(args: dict, facts) -> list[Change]:
    a = _args(args)
    reasons = []
    if a["creates"]:
        fact = facts.files.get(a["creates"])
        if fact is None:
            raise ModuleError(f"{NAME}: no facts were read for {a['creates']} (facts_needed was not merged)")
        if fact.exists:
            return []
        reasons.append(f"{a['creates']} does not exist")
    if a["unless"]:
        status = facts.unless.get(a["unless"])
        if status is None:
            raise ModuleError(f"{NAME}: the unless test {a['unless']!r} was not run (facts_needed was not merged)")
        if status == 0:
            return []
        reasons.append(f"`{a['unless']}` exited {status}")
    first = a["cmd"].strip().splitlines()[0]
    summary = first if len(first) <= 60 and first == a["cmd"].strip() else first[:57] + "..."
    # sh -c: the command's own `exit` or `set` cannot end or change the apply script around it.
    return [
        Change(
            f"command {summary}",
            (f"~ because {' and '.join(reasons)}", f"+ run: {a['cmd']}"),
            (f"sh -c {q(a['cmd'])}",),
        )
    ]
