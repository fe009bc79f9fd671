"""The iSCSI sessions of an initiator (open-iscsi): this host's initiator name, and one node record per wanted
target, logged in now and at boot (node.startup = automatic, which open-iscsi.service logs in before
remote-fs-pre.target, so `_netdev` mounts find their device).

The initiator name comes first: the target's ACL admits names, and iscsid reads the file only when it starts.
With `purge`, the task only removes: a record whose target IQN starts with `prefix` and is not in `present`
is logged out and deleted. Roles run it as a second task, after the mounts module has unmounted what used it.
"""

from __future__ import annotations

from lvsdeploy.modules.base import Change, FactsRequest, ModuleError, as_bool, check_args, file_guard, q

NAME = "iscsi_logins"
INITIATOR_FILE = "/etc/iscsi/initiatorname.iscsi"
DEVICE_WAIT = 60   # seconds for udev to make the LUN's by-path link after a login


def device_path(portal: str, target: str, lun: int = 0) -> str:
    """The stable name udev gives a logged-in LUN, whatever sdX it got."""
    return f"/dev/disk/by-path/ip-{portal}-iscsi-{target}-lun-{lun}"


def _args(args: dict) -> dict:
    check_args(NAME, args, ("initiator", "present", "prefix"), ("purge",))
    wanted = []
    for i, node in enumerate(args["present"] or []):
        if not isinstance(node, dict):
            raise ModuleError(f"{NAME}: present[{i}] must be a mapping like {{target, portal}}")
        check_args(f"{NAME}: present[{i}]", node, ("target", "portal"))
        wanted.append((str(node["target"]), str(node["portal"])))
    return {"initiator": str(args["initiator"]), "wanted": wanted, "prefix": str(args["prefix"]),
            "purge": bool(as_bool(NAME, "purge", args.get("purge", False)))}


def facts_needed(args: dict) -> FactsRequest:
    # the purge task only removes: it never looks at the initiator name
    return FactsRequest() if _args(args)["purge"] else FactsRequest(files={INITIATOR_FILE})


def _name_change(initiator: str, facts) -> list[Change]:
    fact = facts.files.get(INITIATOR_FILE)
    content = f"InitiatorName={initiator}\n"
    if fact is not None and fact.content is not None and fact.content.decode(errors="replace") == content:
        return []
    old = fact.content.decode(errors="replace").strip() if fact is not None and fact.content else "none"
    return [Change(f"file {INITIATOR_FILE}", (f"- {old}", f"+ InitiatorName={initiator}"),
                   ("mkdir -p /etc/iscsi", f"printf '%s\\n' {q('InitiatorName=' + initiator)} > {INITIATOR_FILE}",
                    # iscsid reads the name when it starts; a running session keeps going across the restart
                    "systemctl restart iscsid.service"),
                   guards=file_guard(INITIATOR_FILE, fact))]


def plan(args: dict, facts) -> list[Change]:
    a = _args(args)
    state = facts.iscsi_initiator
    if a["purge"]:
        return _removals(a, state)
    changes = _name_change(a["initiator"], facts) if a["wanted"] else []
    for target, portal in a["wanted"]:
        node = state.nodes.get((target, portal))
        # the portal group (1, as lvsdeploy's targets have) makes open-iscsi write the record as
        # nodes/IQN/IP,PORT,1/default, which the facts read; without it the record is a plain file
        where = f"-T {q(target)} -p {q(portal + ',1')}"
        commands, diff = [], []
        if node is None:
            commands.append(f"iscsiadm -m node {where} -o new >/dev/null")
            diff.append(f"+ node record {target} at {portal}")
        if node is None or node.startup != "automatic":
            commands.append(f"iscsiadm -m node {where} -o update -n node.startup -v automatic")
            diff.append("+ logs in at boot (node.startup = automatic)")
        if (target, portal) not in state.sessions:
            device = device_path(portal, target)
            commands += [f"iscsiadm -m node {where} --login >/dev/null",
                         f"i=0; until [ -b {q(device)} ]; do i=$((i + 1)); [ $i -le {DEVICE_WAIT * 10} ] || "
                         f"{{ echo 'no {device} after the login' >&2; exit 1; }}; sleep 0.1; done"]
            diff.append(f"+ logged in: {device}")
        if commands:
            changes.append(Change(f"iscsi session {target}", tuple(diff), tuple(commands)))
    return changes


def _removals(a: dict, state) -> list[Change]:
    changes = []
    for target, portal in sorted((set(state.nodes) | state.sessions) - set(a["wanted"])):
        if not target.startswith(a["prefix"]):
            continue
        where = f"-T {q(target)} -p {q(portal)}"   # any portal group: records of other tools too
        commands = []
        if (target, portal) in state.sessions:
            commands.append(f"iscsiadm -m node {where} --logout >/dev/null")
        if (target, portal) in state.nodes:
            commands.append(f"iscsiadm -m node {where} -o delete")
        changes.append(Change(f"iscsi session {target}", (f"- logged out, record deleted: {target} at {portal}",),
                              tuple(commands)))
    return changes
