"""The LIO iSCSI targets of a storage node: one target per block share, its device as LUN 0, reachable on one
portal, open only to the listed initiators (an ACL each, no demo mode, no auto-generated ACLs).

Changes are made with python3-rtslib-fb, the library targetcli is built on: one process per target, and no
D-Bus (targetcli needs a running system bus). The whole LIO configuration is then saved to
/etc/rtslib-fb-target/saveconfig.json, which rtslib-fb-targetctl.service restores at boot.

With `purge`, a target whose IQN starts with `prefix` and that is no longer wanted is deleted with its
backstore; the device or file and the data on it stay. Targets of other IQNs are never touched.

Nothing is removed from under a client that is logged in: storage nodes apply before real servers, so a
target (or an initiator's ACL) that left the inventory while a client still has a session stays until a later
apply, after that client has unmounted and logged out; plan says so in a note.
"""

from __future__ import annotations

import json

from lvsdeploy.modules.base import Change, FactsRequest, ModuleError, as_bool, check_args, q

NAME = "iscsi_targets"
SAVED = "/etc/rtslib-fb-target/saveconfig.json"

# argv: "ensure" SPEC_JSON | "remove" IQN BACKSTORE. Idempotent, so a half-done apply is finished by the next.
LIO_TOOL = r'''
import json, os, sys
from rtslib_fb import (BlockStorageObject, FabricModule, FileIOStorageObject, LUN, MappedLUN, NetworkPortal,
                       NodeACL, RTSRoot, Target, TPG)
root, fabric = RTSRoot(), FabricModule("iscsi")
def store(name):
    return next((s for s in root.storage_objects if s.name == name), None)
if sys.argv[1] == "ensure":
    w = json.loads(sys.argv[2])
    so = store(w["backstore"])
    if so is not None and so.udev_path != w["device"]:
        so.delete()     # ours by name but pointing elsewhere; rtslib removes the LUNs using it first
        so = None
    if so is None:
        # a file-backed LUN: the file exists already (cluster_filesystem made it), its size in bytes
        so = (FileIOStorageObject(w["backstore"], w["device"], size=os.path.getsize(w["device"])) if w["size"]
              else BlockStorageObject(w["backstore"], dev=w["device"]))
    target = Target(fabric, w["iqn"])
    tpg = TPG(target, 1)
    lun = next((l for l in tpg.luns if l.lun == 0), None)
    if lun is not None and lun.storage_object.name != so.name:
        lun.delete()
        lun = None
    lun = lun or LUN(tpg, 0, so)
    ip, port = w["portal"].rsplit(":", 1)
    for p in list(tpg.network_portals):
        if (p.ip_address, p.port) != (ip, int(port)):
            p.delete()
    NetworkPortal(tpg, ip, int(port))
    for acl in list(tpg.node_acls):
        if acl.node_wwn not in w["initiators"] + w["keep"]:
            acl.delete()
    for wwn in w["initiators"]:
        acl = NodeACL(tpg, wwn)
        if not any(m.mapped_lun == 0 for m in acl.mapped_luns):
            MappedLUN(acl, 0, lun)
    # ACLs by initiator name, no CHAP: the kernel's default (1) would demand CHAP of every initiator
    tpg.set_attribute("authentication", "0")
    tpg.set_attribute("generate_node_acls", "0")
    tpg.set_attribute("demo_mode_write_protect", "1")
    tpg.enable = True
elif sys.argv[1] == "remove":
    target = next((t for t in fabric.targets if t.wwn == sys.argv[2]), None)
    if target is not None:
        target.delete()
    so = store(sys.argv[3])
    if so is not None:
        so.delete()
root.save_to_file()
'''


def _args(args: dict) -> dict:
    check_args(NAME, args, ("present", "prefix"), ("purge",))
    wanted = {}
    for i, t in enumerate(args["present"] or []):
        if not isinstance(t, dict):
            raise ModuleError(f"{NAME}: present[{i}] must be a mapping like {{iqn, backstore, device, portal}}")
        check_args(f"{NAME}: present[{i}]", t, ("iqn", "backstore", "device", "portal", "initiators"), ("size",))
        if not str(t["iqn"]).startswith(str(args["prefix"])):
            raise ModuleError(f"{NAME}: present[{i}]: {t['iqn']} is not under prefix {args['prefix']}")
        wanted[t["iqn"]] = {"iqn": t["iqn"], "backstore": t["backstore"], "device": t["device"],
                            "size": t.get("size"), "portal": t["portal"], "initiators": sorted(t["initiators"])}
    return {"wanted": wanted, "prefix": str(args["prefix"]),
            "purge": bool(as_bool(NAME, "purge", args.get("purge", False)))}


def facts_needed(args: dict) -> FactsRequest:
    _args(args)
    return FactsRequest()


def _backstore_kind(w: dict) -> str:
    return "fileio" if w["size"] else "iblock"


def _differences(w: dict, targets) -> list[str]:
    """What differs between the wanted target and the one LIO has, as diff lines; [] when it is as wanted."""
    tpg = targets.tpgs.get((w["iqn"], 1))
    if tpg is None:
        return [f"+ target {w['iqn']}: LUN 0 = {w['device']}, portal {w['portal']}, "
                f"initiators {', '.join(w['initiators'])}"]
    lines = []
    backstore = tpg.luns.get(0)
    if backstore is None or targets.backstores.get(backstore) != w["device"]:
        lines.append(f"- LUN 0 = {targets.backstores.get(backstore, 'none') if backstore else 'none'}")
        lines.append(f"+ LUN 0 = {w['device']}")
    if tpg.portals != {w["portal"]}:
        lines.append(f"- portals {', '.join(sorted(tpg.portals)) or 'none'}")
        lines.append(f"+ portals {w['portal']}")
    for gone in sorted(tpg.acls - set(w["initiators"]) - tpg.sessions):
        lines.append(f"- initiator {gone}")
    for new in sorted(set(w["initiators"]) - tpg.acls):
        lines.append(f"+ initiator {new}")
    if tpg.chap:
        lines.append("- CHAP demanded")
        lines.append("+ initiators admitted by name (ACL), no CHAP")
    if not tpg.enabled:
        lines.append("+ enabled")
    return lines


def plan(args: dict, facts) -> list[Change]:
    a = _args(args)
    targets = facts.iscsi_targets
    changes = []
    for iqn, w in a["wanted"].items():
        other = targets.backstore_of(w["device"])
        if other is not None and other.split("/", 1)[-1] != w["backstore"]:
            raise ModuleError(f"{NAME}: {w['device']} is already exported by LIO backstore {other}, which is not "
                              f"lvsdeploy's; remove it or name another device")
        lines = _differences(w, targets)
        _refuse_under_sessions(w, targets, lines)
        if lines:
            tool = dict(w, keep=sorted(_logged_in_leaving(w, targets)))
            changes.append(Change(f"iscsi target {iqn}", tuple(lines),
                                  (f"python3 -c {q(LIO_TOOL)} ensure {q(json.dumps(tool, sort_keys=True))}",)))
    if a["purge"]:
        for (iqn, _), tpg in sorted(targets.tpgs.items()):
            if iqn.startswith(a["prefix"]) and iqn not in a["wanted"] and not tpg.sessions:
                backstore = tpg.luns.get(0, "")
                device = targets.backstores.get(backstore, "no LUN")
                changes.append(Change(f"iscsi target {iqn}", (f"- target {iqn} (LUN 0 = {device}; its data stays)",),
                                      (f"python3 -c {q(LIO_TOOL)} remove {q(iqn)} {q(backstore.split('/', 1)[-1])}",)))
    return changes


def _refuse_under_sessions(w: dict, targets, lines: list[str]) -> None:
    """A LUN or portal change replaces what logged-in clients use: refused while any is logged in."""
    tpg = targets.tpgs.get((w["iqn"], 1))
    moved = [line for line in lines if line.startswith(("- LUN 0", "- portals"))]
    if tpg is not None and tpg.sessions and moved:
        raise ModuleError(f"{NAME}: {w['iqn']}: {moved[0][2:]} would change while {', '.join(sorted(tpg.sessions))} "
                          "logged in; remove the share from the inventory first (apply twice: the clients unmount "
                          "and log out, then the target goes), then add it back with the new device or address")


def _logged_in_leaving(w: dict, targets) -> set[str]:
    """Initiators that left a wanted target's list but are still logged in: their ACLs stay for now."""
    tpg = targets.tpgs.get((w["iqn"], 1))
    return (tpg.acls & tpg.sessions) - set(w["initiators"]) if tpg else set()


def notes(args: dict, facts) -> list[str]:
    """What stays for now because a client is still logged in (removed by an apply after it logs out)."""
    a = _args(args)
    said = []
    for (iqn, _), tpg in sorted(facts.iscsi_targets.tpgs.items()):
        if not iqn.startswith(a["prefix"]):
            continue
        if iqn not in a["wanted"] and a["purge"] and tpg.sessions:
            said.append(f"iscsi target {iqn} stays while {', '.join(sorted(tpg.sessions))} "
                        f"{'is' if len(tpg.sessions) == 1 else 'are'} logged in: the next apply after they log out "
                        f"removes it")
        elif iqn in a["wanted"]:
            for initiator in sorted(_logged_in_leaving(a["wanted"][iqn], facts.iscsi_targets)):
                said.append(f"iscsi target {iqn} keeps {initiator}'s ACL while it is logged in: the next apply "
                            f"after it logs out removes it")
    return said
