"""corosync restarted onto a new configuration, while that is still safe.

Debian's corosync package starts corosync at once with its own example configuration, so on a host where the
apply has just installed it, corosync runs a cluster of one that is not ours. Writing corosync.conf changes
nothing in a running corosync: cluster name, transport and key are read at start only. So when the file (or
the key) on the host differs from what this apply writes and corosync runs, it is restarted right after the
write, before dlm and the mounts use it.

On a host without corosync, the package is installed by this same apply (and started by it): corosync is
then restarted whatever the facts said, `try-restart` (only if it runs). What this does not catch: an apply
that stopped between writing the file and the restart leaves corosync running the old one; the next apply sees
the file as wanted and plans nothing (restart corosync by hand, or `systemctl restart corosync dlm`).

Not under a mounted gfs2: restarting corosync there would take dlm's membership from a live filesystem. Then
the role's `reload corosync` handler (corosync-cfgtool -R) takes what can change live (the node list), and
plan says what waits (see notes).
"""

from __future__ import annotations

from lvsdeploy.modules.base import Change, FactsRequest, ModuleError, check_args, q
from lvsdeploy.modules.service import RUNNING

NAME = "corosync_restart"
UNIT = "corosync.service"
PACKAGE = "corosync"
CONFIG = "/etc/corosync/corosync.conf"
KEY = "/etc/corosync/authkey"


def _bytes(value) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _args(args: dict) -> dict:
    """config: corosync.conf as this apply writes it; key: the authkey it writes, if any."""
    check_args(NAME, args, ("config",), ("key",))
    if not isinstance(args["config"], (str, bytes)) or not args["config"]:
        raise ModuleError(f"{NAME}: config must be the content of corosync.conf")
    files = {CONFIG: _bytes(args["config"])}
    if args.get("key"):
        files[KEY] = _bytes(args["key"])
    return {"files": files}


def facts_needed(args: dict) -> FactsRequest:
    return FactsRequest(files=set(_args(args)["files"]), units={UNIT}, packages={PACKAGE})


def _stale(a: dict, facts) -> list[str]:
    """The files corosync runs without: they differ from what this apply writes, while it runs."""
    unit = facts.units.get(UNIT)
    if unit is None or unit.active not in RUNNING:
        return []
    return [path for path, content in sorted(a["files"].items())
            if (fact := facts.files.get(path)) is None or not fact.exists or fact.content != content]


def _gfs2_mounted(facts) -> list[str]:
    return sorted(m.path for m in facts.mounts if m.fstype == "gfs2")


def plan(args: dict, facts) -> list[Change]:
    a = _args(args)
    if facts.packages.get(PACKAGE) is None:
        # installed by this apply, and started by the package with its example configuration
        return [Change(f"service {UNIT}", ("~ restarted onto lvsdeploy's configuration once the package is in",),
                       (f"systemctl try-restart {q(UNIT)}", "systemctl try-restart dlm.service"))]
    stale = _stale(a, facts)
    if not stale or _gfs2_mounted(facts):
        return []
    return [Change(f"service {UNIT}", (f"~ restarted onto the new {', '.join(stale)} (no gfs2 mounted here)",),
                   (f"systemctl restart {q(UNIT)}", "systemctl try-restart dlm.service"))]


def notes(args: dict, facts) -> list[str]:
    stale, mounted = _stale(_args(args), facts), _gfs2_mounted(facts)
    if stale and mounted:
        return [f"{UNIT}: not restarted under the mounted gfs2 {', '.join(mounted)}; the node list is reloaded "
                f"live (corosync-cfgtool -R), a new cluster name, transport or key needs the gfs2 unmounted and "
                f"corosync restarted by hand"]
    return []
