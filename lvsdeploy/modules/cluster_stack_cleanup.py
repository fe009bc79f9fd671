"""A cluster stack this host no longer needs, taken away: what lvsdeploy wrote for it and nothing else.

A stack is lvsdeploy's on a host when its main configuration file starts with MARKER (the role's templates
begin with it). Then its services are stopped and disabled and the files lvsdeploy wrote for it removed; the
packages stay. A corosync or o2cb set up by someone else (no marker) is never touched. Runs after the mounts
and the iSCSI logouts, so nothing uses the stack any more.
"""

from __future__ import annotations

from lvsdeploy.modules import fstab
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
    return FactsRequest(files={fstab.FSTAB, *(path for _, files, _ in STACKS.values() for path in files)})


def _leaving(keep: str, facts) -> list[tuple[str, list[str], tuple[str, ...]]]:
    """(stack, its files present, its services) for each stack lvsdeploy set up here that is no longer wanted."""
    found = []
    for stack, (owner, files, services) in STACKS.items():
        present = [path for path in files if (f := facts.files.get(path)) is not None and f.exists]
        fact = facts.files.get(owner)
        if stack != keep and fact is not None and fact.exists and (fact.content or b"").startswith(MARKER):
            found.append((stack, present, services))
    return found


def _still_mounted(stack: str, facts) -> list[str]:
    """Mounts of the stack's filesystem that are not lvsdeploy's: its own (a `# lvsdeploy` fstab line) are
    unmounted by the mounts task before this one, in the same apply."""
    _, lines = fstab.fstab_lines(facts)
    ours = {fstab.mount_point(line) for line in lines if fstab.is_ours(line)}
    return sorted(m.path for m in facts.mounts if m.fstype == stack and m.path.rstrip("/") not in ours)


def notes(args: dict, facts) -> list[str]:
    said = []
    for stack, _, _ in _leaving(_args(args)["keep"], facts):
        if mounted := _still_mounted(stack, facts):
            said.append(f"cluster stack {stack}: left running, {', '.join(mounted)} still mounted")
    return said


def plan(args: dict, facts) -> list[Change]:
    changes = []
    for stack, present, services in _leaving(_args(args)["keep"], facts):
        if _still_mounted(stack, facts):
            continue   # stopping dlm or o2cb under a mounted filesystem would withdraw it (see notes)
        units = " ".join(q(s) for s in services)
        # stop, then disable: `disable --now` stops nothing for o2cb, a unit generated from a SysV script
        commands = [f"systemctl stop {units}", f"systemctl --no-reload disable {units}", SYSTEMD_OWED,
                    *(f"rm -f -- {q(path)}" for path in present)]
        diff = (f"- {', '.join(services)} (stopped, disabled)", *(f"- file {path}" for path in present))
        changes.append(Change(f"cluster stack {stack}", diff, tuple(commands)))
    return changes
