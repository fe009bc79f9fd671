"""The IPVS table: virtual services and their real servers, changed with the fewest ipvsadm edits.

Only lvsdeploy's own services are ever touched. The director keeps a record of them (`record`, one service per
line like "TCP 10.20.0.10:80"); a service not in it belongs to someone else (kube-proxy, keepalived, a hand-made
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

from ipaddress import IPv4Address

from lvsdeploy.facts import IpvsDest, IpvsService
from lvsdeploy.facts.ipvs import parse_rules, rows_digest, rows_guard
from lvsdeploy.lvs import METHOD_SWITCH, PROTOCOL_SWITCH
from lvsdeploy.modules.base import Change, FactsRequest, ModuleError, as_bool, check_args, file_guard, q
from lvsdeploy.modules.file import check_path, write_commands

NAME = "ipvs"
RECORD_HEADER = "# Managed by lvsdeploy: the IPVS services it created, and only those it may change.\n"


def _args(args: dict) -> dict:
    check_args(NAME, args, ("services", "record"), ("purge", "adopt_from"))
    services = args["services"]
    if not isinstance(services, list) or not all(isinstance(s, IpvsService) for s in services):
        raise ModuleError(f"{NAME}: services must be the typed services desired.py builds, got {services!r}")
    purge = as_bool(NAME, "purge", args.get("purge", True))
    adopt = check_path(NAME, args["adopt_from"]) if args.get("adopt_from") else None
    return {"services": services, "purge": purge is not False, "record": check_path(NAME, args["record"]),
            "adopt_from": adopt}


def _owned(a: dict, facts) -> set[str]:
    """Labels of the services lvsdeploy created on this host, from its record (or the old boot rules)."""
    record = facts.files.get(a["record"])
    if record is not None and record.exists:
        text = (record.content or b"").decode("utf-8", "replace")
        return {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}
    old = facts.files.get(a["adopt_from"]) if a["adopt_from"] else None
    if old is not None and old.exists and old.content:
        return {s.label for s in parse_rules(old.content.decode("utf-8", "replace")).services}
    return set()


def _record_change(a: dict, facts, labels: set[str], before: set[str] | None = None) -> Change | None:
    """The record rewritten to `labels`: from what the host has, or (the second write of one apply) from
    `before`, what the first write left."""
    fact = facts.files.get(a["record"])
    content = (RECORD_HEADER + "".join(f"{label}\n" for label in sorted(labels))).encode()
    if before is None and fact is not None and fact.exists and fact.content == content:
        return None
    old = before if before is not None else (_owned(a, facts) if fact is not None and fact.exists else set())
    diff = [f"+ {label}" for label in sorted(labels - old)] + [f"- {label}" for label in sorted(old - labels)]
    return Change(f"file {a['record']}", tuple(diff or ["~ header"]),
                  write_commands(a["record"], content, "0644", "root", "root"), guards=file_guard(a["record"], fact))


def _table_guard(facts, services: list[IpvsService]) -> tuple[str, ...]:
    """lvsdeploy's services (wanted or owned) are still what the facts read: an edit of one of them, by hand or
    by another apply, stops this one; other tools' services may change meanwhile."""
    if facts.ipvs is None or facts.ipvs.text is None:
        return ('[ ! -e /proc/net/ip_vs ] || [ -z "$(ipvsadm -Sn 2>/dev/null)" ]',)
    keys = sorted({f" {service_switch(s)} " for s in services})
    return (rows_guard(keys, rows_digest(facts.ipvs.text, keys)),)


# ---- ipvsadm syntax --------------------------------------------------------------------------------------


def service_switch(service: IpvsService) -> str:
    if service.fwmark is not None:
        return f"-f {service.fwmark}"
    return f"{PROTOCOL_SWITCH[service.protocol]} {service.vip}:{service.port}"


def service_options(service: IpvsService) -> str:
    text = f"-s {q(service.scheduler)}"
    if service.persistence is not None:
        text += f" -p {service.persistence}"
        if service.netmask:
            text += f" -M {service.netmask}"
    return text


def dest_rule(service: IpvsService, dest: IpvsDest) -> str:
    return f"{service_switch(service)} -r {dest.ip}:{dest.port} {METHOD_SWITCH[dest.method]} -w {dest.weight}"


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
    text = service.scheduler
    if service.persistence is not None:
        text += f" persistent {service.persistence}"
        if service.netmask:
            text += f" mask {service.netmask}"
    return text


def _describe_dest(dest: IpvsDest) -> str:
    return f"-> {dest.ip}:{dest.port} {dest.method} weight {dest.weight}"


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
            diff.append(f"  ~ -> {dest.ip}:{dest.port} {', '.join(changes)}")
            commands.append(f"ipvsadm -e {dest_rule(want, dest)}")
    for key, old in current.items():
        if key not in wanted:
            diff.append(f"  - {_describe_dest(old)}")
            commands.append(f"ipvsadm -d {service_switch(want)} -r {old.ip}:{old.port}")
    return Change(resource, tuple(diff), tuple(commands)) if commands else None


def facts_needed(args: dict) -> FactsRequest:
    a = _args(args)
    return FactsRequest(files={a["record"]} | ({a["adopt_from"]} if a["adopt_from"] else set()))  # + the table


def _current(facts) -> dict:
    # No ip_vs module means no table yet: everything is to be added (the module loads earlier in the script).
    return {s.key: s for s in (facts.ipvs.services if facts.ipvs else [])}


def plan(args: dict, facts) -> list[Change]:
    a = _args(args)
    wanted, owned, current = a["services"], _owned(a, facts), _current(facts)
    collisions = [s for s in wanted if s.key in current and s.label not in owned]
    if collisions:
        labels = ", ".join(s.label for s in collisions)
        raise ModuleError(f"{NAME}: {labels} already exists on the host and lvsdeploy did not create it (not in "
                          f"{a['record']}); it is left alone: remove it yourself, or give the service another "
                          "VIP or port")
    wanted_labels = {s.label for s in wanted}
    ours_unwanted = sorted((s for s in current.values() if s.label in owned and s.label not in wanted_labels),
                           key=_sort_key)
    unwanted = ours_unwanted if a["purge"] else []
    # ours: what is wanted, and what we made that is still there (kept without purge, or not removed yet)
    before = wanted_labels | {s.label for s in ours_unwanted}
    changes = [_record_change(a, facts, before)]
    changes += [_service_change(s, current.get(s.key)) for s in wanted]
    changes += [_service_change(None, s) for s in unwanted]
    if unwanted:   # only once they are gone do they leave the record
        changes.append(_record_change(a, facts, before - {s.label for s in unwanted}, before))
    guard = _table_guard(facts, wanted + [s for s in current.values() if s.label in owned])
    return [Change(c.resource, c.diff, c.commands, c.notify, c.guards or guard)
            for c in changes if c is not None]


def notes(args: dict, facts) -> list[str]:
    """What plan says about the services that are not lvsdeploy's."""
    a = _args(args)
    owned, wanted = _owned(a, facts), {s.key for s in a["services"]}
    return [f"ipvs {s.label}: not managed by lvsdeploy, left alone"
            for s in sorted(_current(facts).values(), key=_sort_key) if s.label not in owned and s.key not in wanted]


def persist(args: dict, facts) -> list[tuple[str, str]]:
    """The table restored at boot by `ipvsadm -R` (the boot role's ipvs file): lvsdeploy's services only."""
    return [("ipvs", line) for line in rules_lines(_args(args)["services"])]
