"""A cluster filesystem made on a share's LUN, on the storage node, before any client sees it: only where
blkid's low-level probe finds nothing at all. A device holding anything else (another filesystem, a partition
table, LVM, RAID) stops the plan: lvsdeploy never reformats. The apply script checks again, under the host
lock, that the device is still blank before mkfs runs (the guard).

mkfs needs no cluster stack: the lock table (gfs2) or cluster name (ocfs2) is written into the superblock and
used by the clients' dlm or o2cb when they mount.
"""

from __future__ import annotations

import re

from lvsdeploy.modules.base import Change, FactsRequest, ModuleError, as_str, check_args, choice, q

NAME = "cluster_filesystem"
FSTYPES = ("gfs2", "ocfs2")
SIZE = re.compile(r"^[1-9][0-9]{0,5}[MGT]$")


def _args(args: dict) -> dict:
    check_args(NAME, args, ("device", "fstype", "cluster", "name", "journals"), ("size",))
    size = args.get("size")
    if size is not None and not SIZE.match(str(size)):
        raise ModuleError(f"{NAME}: size must be like 2G, got {size!r}")
    journals = args["journals"]
    if isinstance(journals, bool) or not isinstance(journals, int) or not 1 <= journals <= 255:
        raise ModuleError(f"{NAME}: journals must be an integer between 1 and 255, got {journals!r}")
    return {"device": as_str(NAME, "device", args["device"]), "fstype": choice(NAME, args, "fstype", FSTYPES),
            "cluster": as_str(NAME, "cluster", args["cluster"]), "name": as_str(NAME, "name", args["name"]),
            "journals": journals, "size": size}


def facts_needed(args: dict) -> FactsRequest:
    return FactsRequest(devices={_args(args)["device"]})


def mkfs_command(a: dict) -> str:
    dev = q(a["device"])
    if a["fstype"] == "gfs2":
        # -O: no "are you sure" prompt (the guard asked already); the lock table is CLUSTER:NAME
        return f"mkfs.gfs2 -O -p lock_dlm -t {q(a['cluster'] + ':' + a['name'])} -j {a['journals']} {dev}"
    return (f"mkfs.ocfs2 -N {a['journals']} -L {q(a['name'])} --cluster-stack=o2cb "
            f"--cluster-name={q(a['cluster'])} {dev} </dev/null")


def _blank_guard(device: str) -> str:
    """Holds while blkid's probe still finds nothing (exit 2) on the device. One && / || list: the script runs
    under set -e, and its guards are `GUARD || note-stale`."""
    return f"{{ blkid -p {q(device)} >/dev/null 2>&1 && false || [ $? -eq 2 ]; }}"


def plan(args: dict, facts) -> list[Change]:
    a = _args(args)
    dev = facts.devices.get(a["device"])
    if dev is None:
        raise ModuleError(f"{NAME}: no facts were read for {a['device']} (facts_needed was not merged)")
    what = f"{a['fstype']} filesystem on {a['device']}"
    detail = (f"lock table {a['cluster']}:{a['name']}" if a["fstype"] == "gfs2"
              else f"cluster {a['cluster']}, label {a['name']}") + f", {a['journals']} journals"
    if not dev.exists:
        if a["size"] is None:
            raise ModuleError(f"{NAME}: {a['device']} does not exist on this host; name a block device it has")
        return [Change(f"filesystem {a['device']}", (f"+ would create {a['size']} file {a['device']}",
                                                     f"+ would create a {what} ({detail})"),
                       (f"mkdir -p -- {q(a['device'].rsplit('/', 1)[0] or '/')}",
                        f"truncate -s {a['size']} {q(a['device'])}", mkfs_command(a)),
                       guards=(f"[ ! -e {q(a['device'])} ]",))]
    if not dev.probed:
        raise ModuleError(f"{NAME}: blkid could not read {a['device']}; lvsdeploy makes a filesystem only where it "
                          "can prove there is none")
    if dev.blank:
        return [Change(f"filesystem {a['device']}", (f"+ would create a {what} ({detail})",), (mkfs_command(a),),
                       guards=(_blank_guard(a["device"]),))]
    if dev.fstype != a["fstype"]:
        raise ModuleError(f"{NAME}: {a['device']} holds {dev.holds()}; lvsdeploy never reformats a device: name a "
                          f"blank one, or wipe it yourself if its data is truly unwanted")
    if a["fstype"] == "gfs2" and dev.signature.get("LABEL") not in (None, f"{a['cluster']}:{a['name']}"):
        raise ModuleError(f"{NAME}: {a['device']} is a gfs2 filesystem with lock table {dev.signature['LABEL']}, "
                          f"not {a['cluster']}:{a['name']}; clients could not mount it (tunegfs2 -o locktable=... "
                          "changes it while no node has it mounted)")
    if dev.journals is not None and dev.journals < a["journals"]:
        # each node that mounts needs its own journal (slot): a client beyond them could not mount
        add = (f"`gfs2_jadd -j {a['journals'] - dev.journals} MOUNTPOINT` on a client that has it mounted"
               if a["fstype"] == "gfs2" else
               f"`tunefs.ocfs2 -N {a['journals']} {a['device']}` on a client with the o2cb cluster online")
        raise ModuleError(f"{NAME}: the {a['fstype']} filesystem on {a['device']} has {dev.journals} journals and the "
                          f"inventory asks for {a['journals']} (the share's journals, or one per client); lvsdeploy "
                          f"does not add journals yet: run {add}, then apply again")
    return []
