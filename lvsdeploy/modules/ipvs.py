"""The IPVS table: virtual services and their real servers, changed with the fewest ipvsadm edits.

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
from lvsdeploy.lvs import METHOD_SWITCH, PROTOCOL_SWITCH
from lvsdeploy.modules.base import Change, FactsRequest, ModuleError, as_bool, check_args, q

NAME = "ipvs"


def _args(args: dict) -> tuple[list[IpvsService], bool]:
    check_args(NAME, args, ("services",), ("purge",))
    services = args["services"]
    if not isinstance(services, list) or not all(isinstance(s, IpvsService) for s in services):
        raise ModuleError(f"{NAME}: services must be the typed services desired.py builds, got {services!r}")
    purge = as_bool(NAME, "purge", args.get("purge", True))
    return services, purge is not False


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
    _args(args)
    return FactsRequest()  # the IPVS table is always read


def plan(args: dict, facts) -> list[Change]:
    wanted, purge = _args(args)
    # No ip_vs module means no table yet: everything is to be added (the module loads earlier in the script).
    current = {s.key: s for s in (facts.ipvs.services if facts.ipvs else [])}
    changes = [_service_change(s, current.get(s.key)) for s in wanted]
    if purge:
        wanted_keys = {s.key for s in wanted}
        unwanted = sorted((s for s in current.values() if s.key not in wanted_keys), key=_sort_key)
        changes += [_service_change(None, s) for s in unwanted]
    return [c for c in changes if c is not None]


def persist(args: dict, facts) -> list[tuple[str, str]]:
    """The table restored at boot by `ipvsadm -R` (the boot role's ipvs file)."""
    return [("ipvs", line) for line in rules_lines(_args(args)[0])]
