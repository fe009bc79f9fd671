"""A cluster stack this host no longer needs, taken away: what lvsdeploy wrote for it and nothing else.

A stack is lvsdeploy's on a host when its main configuration file starts with MARKER (the role's templates
begin with it). Then its services are stopped and disabled and the files lvsdeploy wrote for it removed; the
packages stay. A corosync or o2cb set up by someone else (no marker) is never touched. Runs after the mounts
and the iSCSI logouts, so nothing uses the stack any more.
"""

from __future__ import annotations

from lvsdeploy.modules.base import SYSTEMD_OWED, Change, FactsRequest, ModuleError, check_args, q

NAME = "cluster_stack_cleanup"
MARKER = b"# Managed by lvsdeploy"

# stack -> (the file that says whose it is, every file lvsdeploy writes for it, its services, stopped in order)
STACKS = {
    "gfs2": ("/etc/corosync/corosync.conf",
             ("/etc/corosync/corosync.conf", "/etc/corosync/authkey", "/etc/dlm/dlm.conf"),
             ("dlm.service", "corosync.service")),
    "ocfs2": ("/etc/ocfs2/cluster.conf",
              ("/etc/ocfs2/cluster.conf", "/etc/default/o2cb"),
              ("o2cb.service",)),
}


def _args(args: dict) -> dict:
    check_args(NAME, args, (), ("keep",))
    keep = args.get("keep") or "none"
    if keep not in (*STACKS, "none"):
        raise ModuleError(f"{NAME}: keep must be gfs2, ocfs2 or none, got {keep!r}")
    return {"keep": keep}


def facts_needed(args: dict) -> FactsRequest:
    _args(args)
    return FactsRequest(files={path for _, files, _ in STACKS.values() for path in files})


def plan(args: dict, facts) -> list[Change]:
    keep = _args(args)["keep"]
    changes = []
    for stack, (owner, files, services) in STACKS.items():
        present = [path for path in files if (f := facts.files.get(path)) is not None and f.exists]
        fact = facts.files.get(owner)
        if stack == keep or fact is None or not fact.exists or not (fact.content or b"").startswith(MARKER):
            continue
        units = " ".join(q(s) for s in services)
        # stop, then disable: `disable --now` stops nothing for o2cb, a unit generated from a SysV script
        commands = [f"systemctl stop {units}", f"systemctl --no-reload disable {units}", SYSTEMD_OWED,
                    *(f"rm -f -- {q(path)}" for path in present)]
        diff = (f"- {', '.join(services)} (stopped, disabled)", *(f"- file {path}" for path in present))
        changes.append(Change(f"cluster stack {stack}", diff, tuple(commands)))
    return changes
