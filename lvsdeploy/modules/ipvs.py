"""The IPVS table: virtual services and their real servers, changed with the fewest ipvsadm edits.

Only lvsdeploy's own services are ever touched. The director keeps a record of them (`record`, one service per
line like "TCP 10.20.0.10:80", or "TCP 10.20.0.10:80 keepalived" for one handed to a health checker: see
`owner` and lvsdeploy/checkers.py); a service not in it belongs to someone else (kube-proxy, keepalived, a hand-made
one): plan names it "not managed, left alone", and a wanted service that collides with one is an error. A
record that does not exist yet is taken from `adopt_from` (the saved boot rules of an lvsdeploy that predates
the record), so an upgrade keeps owning what it made. The record is written before any service is added and
rewritten after unwanted ones are removed, so a failure in between never turns a service of ours into a
foreign one.

The table is never flushed (`ipvsadm -C`) and a service is never deleted and re-added to change it: either
would drop every live connection through the director. A scheduler or persistence change is `-E`, a weight or
forwarding-method change is `-e`; new destinations are added before unwanted ones are removed.

Input is typed: `services` is a list of facts.IpvsService, built by desired.py from the validated model, so
the desired and the current table are the same kind of object and compare directly. Nothing is re-validated
here: validate.py has checked ports, persistence netmasks and duplicates.
"""

from __future__ import annotations

import hashlib
from ipaddress import IPv4Address

from lvsdeploy import drain
from lvsdeploy.facts import IpvsDest, IpvsService
from lvsdeploy.facts.ipvs import parse_rules, rows_digest, rows_guard, threshold_rows, thresholds_guard
from lvsdeploy.lvs import METHOD_SWITCH, PROTOCOL_SWITCH
from lvsdeploy.modules.base import Change, FactsRequest, ModuleError, as_bool, check_args, file_guard, q
from lvsdeploy.modules import service as unit_module
from lvsdeploy.modules.file import check_path, write_commands

NAME = "ipvs"
LVSDEPLOY = "lvsdeploy"
OWNERS = (LVSDEPLOY, "keepalived", "ldirectord")
RECORD_HEADER = "# Managed by lvsdeploy: the IPVS services it created, and only those it may change.\n"


def _drains(key: str, items, with_since: bool) -> list[drain.Drain]:
    if not isinstance(items, list):
        raise ModuleError(f"{NAME}: {key} must be a list of {{service, dest}}, got {items!r}")
    found = []
    for i, item in enumerate(items):
        check_args(f"{NAME}: {key}[{i}]", item, ("service", "dest") + (("since",) if with_since else ()))
        found.append(drain.Drain(str(item["service"]), str(item["dest"]), str(item.get("since", ""))))
    return found


def _args(args: dict) -> dict:
    check_args(NAME, args, ("services", "record"), ("purge", "adopt_from", "owner", "drained", "drain", "undrain"))
    services = args["services"]
    if not isinstance(services, list) or not all(isinstance(s, IpvsService) for s in services):
        raise ModuleError(f"{NAME}: services must be the typed services desired.py builds, got {services!r}")
    purge = as_bool(NAME, "purge", args.get("purge", True))
    adopt = check_path(NAME, args["adopt_from"]) if args.get("adopt_from") else None
    owner = args.get("owner", LVSDEPLOY)
    if owner not in OWNERS:
        raise ModuleError(f"{NAME}: owner must be one of {', '.join(OWNERS)}, got {owner!r}")
    return {"services": services, "purge": purge is not False, "record": check_path(NAME, args["record"]),
            "adopt_from": adopt, "owner": owner,
            "drained": check_path(NAME, args["drained"]) if args.get("drained") else None,
            "drain": _drains("drain", args.get("drain") or [], True),
            "undrain": _drains("undrain", args.get("undrain") or [], False)}


def _drained(a: dict, facts) -> dict:
    """The drains in force after this apply: the director's record, this run's drain and undrain, and only
    for real servers the inventory still has in that service."""
    if a["drained"] is None:
        return {}
    fact = facts.files.get(a["drained"])
    wanted = {(s.label, f"{d.ip}:{d.port}") for s in a["services"] for d in s.destinations}
    return drain.in_force(fact.content if fact is not None and fact.exists else None, a["drain"], a["undrain"],
                          wanted)


def _drained_change(a: dict, facts, drains: dict) -> Change | None:
    fact = facts.files.get(a["drained"])
    content = drain.render(drains)
    had = drain.parse(fact.content if fact is not None and fact.exists else None)
    if (fact is not None and fact.exists and fact.content == content) or (not drains and not had and
                                                                          (fact is None or not fact.exists)):
        return None
    diff = [f"+ {d.service} -> {d.dest} drained since {d.since}" for k, d in sorted(drains.items()) if k not in had]
    diff += [f"- {d.service} -> {d.dest} (undrained)" for k, d in sorted(had.items()) if k not in drains]
    return Change(f"file {a['drained']}", tuple(diff or ["~ rewritten"]),
                  write_commands(a["drained"], content, "0644", "root", "root"), guards=file_guard(a["drained"], fact))


def _owned(a: dict, facts) -> dict[str, str]:
    """label -> owner of the services lvsdeploy created on this host, from its record (or the old boot rules).
    A record line is "TCP 10.20.0.10:80" (lvsdeploy keeps it with ipvsadm) or "TCP 10.20.0.10:80 keepalived"
    (handed to that health checker, which keeps it from its own configuration)."""
    record = facts.files.get(a["record"])
    if record is not None and record.exists:
        text = (record.content or b"").decode("utf-8", "replace")
        owners = {}
        for line in text.splitlines():
            words = line.split()
            if words and not line.startswith("#"):
                owner = words[2] if len(words) > 2 else LVSDEPLOY
                if owner not in OWNERS:   # a hand edit: never a reason to stop some other unit
                    raise ModuleError(f"{NAME}: {a['record']}: {line.strip()!r} names {owner!r} as its keeper; "
                                      f"lvsdeploy knows {', '.join(OWNERS)}: fix or remove that line")
                owners[" ".join(words[:2])] = owner
        return owners
    old = facts.files.get(a["adopt_from"]) if a["adopt_from"] else None
    if old is not None and old.exists and old.content:
        return {s.label: LVSDEPLOY for s in parse_rules(old.content.decode("utf-8", "replace")).services}
    return {}


def _record_line(label: str, owner: str) -> str:
    return label if owner == LVSDEPLOY else f"{label} {owner}"


def _record_change(a: dict, facts, owners: dict[str, str], before: dict[str, str] | None = None) -> Change | None:
    """The record rewritten to `owners`: from what the host has, or (the second write of one apply) from
    `before`, what the first write left."""
    fact = facts.files.get(a["record"])
    content = (RECORD_HEADER + "".join(f"{_record_line(label, owners[label])}\n" for label in sorted(owners))).encode()
    if before is None and fact is not None and fact.exists and fact.content == content:
        return None
    old = before if before is not None else (_owned(a, facts) if fact is not None and fact.exists else {})
    diff = [f"+ {_record_line(label, owners[label])}" for label in sorted(owners) if label not in old]
    diff += [f"~ {label}: kept by {old[label]} -> {owners[label]}" for label in sorted(owners)
             if label in old and old[label] != owners[label]]
    diff += [f"- {_record_line(label, old[label])}" for label in sorted(old) if label not in owners]
    return Change(f"file {a['record']}", tuple(diff or ["~ header"]),
                  write_commands(a["record"], content, "0644", "root", "root"), guards=file_guard(a["record"], fact))


def _table_guard(facts, services: list[IpvsService]) -> tuple[str, ...]:
    """lvsdeploy's services (wanted or owned) are still what the facts read: an edit of one of them, by hand or
    by another apply, stops this one; other tools' services may change meanwhile."""
    if facts.ipvs is None or facts.ipvs.text is None:
        return ('[ ! -e /proc/net/ip_vs ] || [ -z "$(ipvsadm -Sn 2>/dev/null)" ]',)
    keys = sorted({f" {service_switch(s)} " for s in services})
    guards = (rows_guard(keys, rows_digest(facts.ipvs.text, keys)),)
    if facts.ipvs.thresholds_text:   # read with the table: the thresholds -Sn leaves out are guarded too
        labels = sorted({f"{s.label} " for s in services})
        rows = threshold_rows(facts.ipvs.thresholds_text, labels)
        guards += (thresholds_guard(labels, hashlib.sha256(rows.encode()).hexdigest()),)
    return guards


# ---- ipvsadm syntax --------------------------------------------------------------------------------------


def service_switch(service: IpvsService) -> str:
    if service.fwmark is not None:
        return f"-f {service.fwmark}"
    return f"{PROTOCOL_SWITCH[service.protocol]} {service.vip}:{service.port}"


def service_options(service: IpvsService) -> str:
    # -E without -b clears the flags (checked on the lab), as an edit without -p ends persistence
    text = f"-s {q(service.scheduler)}"
    if service.persistence is not None:
        text += f" -p {service.persistence}"
        if service.netmask:
            text += f" -M {service.netmask}"
    if service.flags:
        text += f" -b {','.join(service.flags)}"
    return text


def dest_rule(service: IpvsService, dest: IpvsDest) -> str:
    # -e without -x/-y sets them to 0 (checked on the lab), so an edit that leaves them out clears them
    thresholds = (f" -x {dest.upper}" if dest.upper else "") + (f" -y {dest.lower}" if dest.lower else "")
    return (f"{service_switch(service)} -r {dest.ip}:{dest.port} {METHOD_SWITCH[dest.method]} -w {dest.weight}"
            + thresholds)


def _sort_key(service: IpvsService):
    if service.fwmark is not None:
        return (1, "", 0, 0, service.fwmark)
    return (0, service.protocol, int(IPv4Address(service.vip)), service.port, 0)


def _dest_sort_key(dest: IpvsDest):
    return (int(IPv4Address(dest.ip)), dest.port)


def rules_lines(services: list[IpvsService]) -> list[str]:
    """The canonical `ipvsadm -R` input for these services, in a stable order (same syntax as `ipvsadm -Sn`)."""
    lines = []
    for service in sorted(services, key=_sort_key):
        lines.append(f"-A {service_switch(service)} {service_options(service)}")
        lines += [f"-a {dest_rule(service, d)}" for d in sorted(service.destinations, key=_dest_sort_key)]
    return lines


# ---- plan -------------------------------------------------------------------------------------------------


def _describe(service: IpvsService) -> str:
    text = service.scheduler + (f" ({','.join(service.flags)})" if service.flags else "")   # as ipvsadm -Ln
    if service.persistence is not None:
        text += f" persistent {service.persistence}"
        if service.netmask:
            text += f" mask {service.netmask}"
    return text


def _thresholds(dest: IpvsDest) -> str:
    return f"thresholds {dest.upper}/{dest.lower}" if dest.upper or dest.lower else "no thresholds"


def _describe_dest(dest: IpvsDest) -> str:
    text = f"-> {dest.ip}:{dest.port} {dest.method} weight {dest.weight}"
    return text + (f" {_thresholds(dest)}" if dest.upper or dest.lower else "")


def _service_change(want: IpvsService | None, have: IpvsService | None) -> Change | None:
    service = want or have
    resource = f"ipvs {service.label}"
    if want is None:  # purge
        diff = [f"- {have.label} {_describe(have)}"] + [f"  - {_describe_dest(d)}" for d in have.destinations]
        return Change(resource, tuple(diff), (f"ipvsadm -D {service_switch(have)}",))

    diff, commands = [], []
    if have is None:
        diff.append(f"+ {want.label} {_describe(want)}")
        commands.append(f"ipvsadm -A {service_switch(want)} {service_options(want)}")
    elif _describe(have) != _describe(want):
        diff.append(f"~ {want.label} {_describe(have)} -> {_describe(want)}")
        commands.append(f"ipvsadm -E {service_switch(want)} {service_options(want)}")
    else:
        diff.append(f"  {want.label} {_describe(want)}")

    current = {(d.ip, d.port): d for d in (have.destinations if have else [])}
    wanted = {(d.ip, d.port) for d in want.destinations}
    for dest in want.destinations:
        old = current.get((dest.ip, dest.port))
        if old is None:
            diff.append(f"  + {_describe_dest(dest)}")
            commands.append(f"ipvsadm -a {dest_rule(want, dest)}")
        elif old != dest:
            changes = [f"{old.method} -> {dest.method}"] if old.method != dest.method else []
            changes += [f"weight {old.weight} -> {dest.weight}"] if old.weight != dest.weight else []
            if (old.upper, old.lower) != (dest.upper, dest.lower):
                changes.append(f"{_thresholds(old)} -> {_thresholds(dest)}")
            diff.append(f"  ~ -> {dest.ip}:{dest.port} {', '.join(changes)}")
            commands.append(f"ipvsadm -e {dest_rule(want, dest)}")
    for key, old in current.items():
        if key not in wanted:
            diff.append(f"  - {_describe_dest(old)}")
            commands.append(f"ipvsadm -d {service_switch(want)} -r {old.ip}:{old.port}")
    return Change(resource, tuple(diff), tuple(commands)) if commands else None


def facts_needed(args: dict) -> FactsRequest:
    a = _args(args)
    # + the table, and the checkers' units (a handover stops the one that kept the services until now)
    return FactsRequest(files={a["record"]} | ({a["adopt_from"]} if a["adopt_from"] else set())
                        | ({a["drained"]} if a["drained"] else set()),
                        units={f"{checker}.service" for checker in OWNERS if checker != LVSDEPLOY})


def _current(facts) -> dict:
    # No ip_vs module means no table yet: everything is to be added (the module loads earlier in the script).
    return {s.key: s for s in (facts.ipvs.services if facts.ipvs else [])}


def _unit_running(facts, owner: str) -> bool:
    if owner == LVSDEPLOY:
        return False
    unit = facts.units.get(f"{owner}.service")
    return unit is not None and unit.active in unit_module.RUNNING


def _tolerant(command: str) -> str:
    """An edit of a service a health checker kept until now: the daemon may have added or removed a real server
    since the facts were read, so an add falls back to an edit (and back), and a removal of a gone one is done."""
    words = command.split(" ", 2)
    if len(words) < 3 or words[0] != "ipvsadm":
        return command
    other = {"-a": "-e", "-e": "-a", "-A": "-E", "-E": "-A"}.get(words[1])
    if other:
        return f"{command} 2>/dev/null || ipvsadm {other} {words[2]}"
    return f"{command} 2>/dev/null || true" if words[1] in ("-d", "-D") else command


def plan(args: dict, facts) -> list[Change]:
    a = _args(args)
    drains = _drained(a, facts)
    # a drained real server is wanted at weight 0, whatever the inventory says, until it is undrained (a checker
    # gets the same weight 0 from its configuration: drain.checker_vars)
    a["services"] = drain.apply_to(a["services"], drains)
    wanted, owners, current, owner = a["services"], _owned(a, facts), _current(facts), a["owner"]
    collisions = [s for s in wanted if s.key in current and s.label not in owners]
    if collisions:
        labels = ", ".join(s.label for s in collisions)
        raise ModuleError(f"{NAME}: {labels} already exists on the host and lvsdeploy did not create it (not in "
                          f"{a['record']}); it is left alone: remove it yourself, or give the service another "
                          "VIP or port")
    wanted_labels = {s.label for s in wanted}
    # lvsdeploy edits a wanted service with ipvsadm when it keeps it itself, and once when it hands it from
    # one keeper to another (so that a checker starts from the inventory's table); a service its checker keeps
    # is the checker's: a real server it took out is not drift.
    touched = [s for s in wanted if owner == LVSDEPLOY or owners.get(s.label, owner) != owner]
    ours_unwanted = sorted((s for s in current.values() if s.label in owners and s.label not in wanted_labels),
                           key=_sort_key)
    # the running checker removes a service that left its configuration by itself (on reload)
    # (only if it runs now: started later from its new configuration, it would never remove it)
    running = _unit_running(facts, owner)
    left = [s for s in ours_unwanted if running and owners[s.label] == owner] if a["purge"] else []
    unwanted = [s for s in ours_unwanted if s not in left] if a["purge"] else []
    # the record: what is wanted and what we made that is still there, each with its keeper until now (a new
    # service with its new one): a handover that fails half-way is done again by the next apply
    before = {label: owners.get(label, owner) for label in wanted_labels} | {s.label: owners[s.label]
                                                                              for s in ours_unwanted}
    # the checkers that kept services until now stop (leaving the table) before anyone else edits it
    changes = [c for checker in sorted(set(owners.values()) - {LVSDEPLOY, owner})
               for c in unit_module.plan({"name": f"{checker}.service", "enabled": False, "state": "stopped"}, facts)]
    changes.append(_record_change(a, facts, before))
    # the drain record before the edits it causes: an apply that fails half-way is finished by the next
    if a["drained"] is not None:
        changes.append(_drained_change(a, facts, drains))
    edits = [(s, _service_change(s, current.get(s.key))) for s in touched]
    edits += [(s, _service_change(None, s)) for s in unwanted]
    for service, change in edits:
        if change is not None and owners.get(service.label, LVSDEPLOY) != LVSDEPLOY:
            change = Change(change.resource, change.diff, tuple(_tolerant(c) for c in change.commands))
        changes.append(change)
    gone = {s.label for s in unwanted + left}
    # only once they are gone (or left to their checker) do they leave the record, and only once their table
    # is aligned do handed-over services change keeper
    after = {label: owner for label in wanted_labels} | {k: v for k, v in before.items() if k not in wanted_labels
                                                         and k not in gone}
    if after != before:
        changes.append(_record_change(a, facts, after, before))
    # the guard covers what lvsdeploy keeps itself; a checker's services change whenever a real server fails
    kept = [s for s in touched + unwanted if owners.get(s.label, LVSDEPLOY) == LVSDEPLOY]
    guard = _table_guard(facts, kept) if kept else ()
    return [Change(c.resource, c.diff, c.commands, c.notify, c.guards or guard)
            for c in changes if c is not None]


def notes(args: dict, facts) -> list[str]:
    """What plan says about services that are not lvsdeploy's, and about real servers a checker took out."""
    a = _args(args)
    owners, wanted, current = _owned(a, facts), {s.key for s in a["services"]}, _current(facts)
    notes = [f"ipvs {s.label}: not managed by lvsdeploy, left alone"
             for s in sorted(current.values(), key=_sort_key) if s.label not in owners and s.key not in wanted]
    notes += [f"ipvs {d.service} -> {d.dest}: drained since {d.since} (weight 0 until `lvsdeploy undrain`)"
              if a["owner"] == LVSDEPLOY else
              f"ipvs {d.service} -> {d.dest}: drained since {d.since} (weight 0 in {a['owner']}'s configuration "
              "until `lvsdeploy undrain`)" for _, d in sorted(_drained(a, facts).items())]
    if a["owner"] != LVSDEPLOY:
        drained = _drained(a, facts)   # their weight 0 is the drain's, not the check's (said above)
        for service in a["services"]:
            have = current.get(service.key)
            if have is None or owners.get(service.label) != a["owner"]:
                continue
            live = {(d.ip, d.port): d for d in have.destinations}
            for dest in service.destinations:
                found = live.get((dest.ip, dest.port))
                if found is not None and (service.label, f"{dest.ip}:{dest.port}") in drained:
                    continue
                if found is None:
                    notes.append(f"ipvs {service.label} -> {dest.ip}:{dest.port}: out of rotation ({a['owner']}'s "
                                 "health check took it out, or its next reload adds it)")
                elif found.weight == 0 and dest.weight > 0:
                    notes.append(f"ipvs {service.label} -> {dest.ip}:{dest.port}: weight 0 (quiescent), set by "
                                 f"{a['owner']}'s health check")
    return notes


def persist(args: dict, facts) -> list[tuple[str, str]]:
    """The table restored at boot by `ipvsadm -R` (the boot role's ipvs file): the services lvsdeploy keeps
    itself; a checker's daemon creates its own at boot."""
    a = _args(args)
    services = drain.apply_to(a["services"], _drained(a, facts))   # a drain survives a reboot too
    return [("ipvs", line) for line in rules_lines(services)] if a["owner"] == LVSDEPLOY else []
