"""The IPVS table: virtual services and their real servers, changed with the fewest ipvsadm edits.

The table is never flushed (`ipvsadm -C`) and a service is never deleted and re-added to change it: either
would drop every live connection through the director. A scheduler or persistence change is `-E`, a weight or
forwarding-method change is `-e`; new destinations are added before unwanted ones are removed.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from lvsdeploy.facts import IpvsDest, IpvsService
from lvsdeploy.modules.base import (
    Change,
    FactsRequest,
    ModuleError,
    as_bool,
    as_int,
    as_ipv4,
    check_args,
    q,
)

NAME = "ipvs"

SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos")
PROTOCOL_SWITCH = {"TCP": "-t", "UDP": "-u", "SCTP": "--sctp-service"}
METHOD_SWITCH = {"route": "-g", "masq": "-m", "tunnel": "-i"}
# LVS mode names as people say them, for the forwarding method ipvsadm calls otherwise.
METHOD_ALIASES = {"dr": "route", "gatewaying": "route", "nat": "masq", "tun": "tunnel", "ipip": "tunnel"}

_SERVICE_KEYS = ("protocol", "vip", "port", "fwmark", "scheduler", "persistence", "netmask", "destinations")
_DEST_KEYS = ("ip", "port", "weight", "method")


# ---- desired state: arguments -> the same dataclasses the facts parser fills ----------------------------


def _netmask(where: str, value) -> str | None:
    """Dotted ("255.255.255.0"), "/24" or 24 -> dotted; /32 is ipvsadm's default and reads back as None."""
    if value is None:
        return None
    try:
        mask = IPv4Network(f"0.0.0.0/{str(value).lstrip('/')}").netmask
    except ValueError:
        raise ModuleError(
            f"{NAME}: {where}: netmask must be dotted (255.255.255.0) or a prefix length, got {value!r}"
        ) from None
    return None if str(mask) == "255.255.255.255" else str(mask)


def _destination(where: str, raw, service: IpvsService) -> IpvsDest:
    if not isinstance(raw, dict):
        raise ModuleError(f"{NAME}: {where}: each destination must be a mapping, got {raw!r}")
    unknown = sorted(set(raw) - set(_DEST_KEYS))
    if unknown or raw.get("ip") is None:
        raise ModuleError(f"{NAME}: {where}: a destination has ip and optionally port, weight, method; got {raw!r}")
    ip = str(as_ipv4(NAME, f"{where} ip", raw["ip"]))
    method = raw.get("method") or "route"
    method = METHOD_ALIASES.get(str(method).lower(), str(method).lower())
    if method not in METHOD_SWITCH:
        raise ModuleError(f"{NAME}: {where} {ip}: method must be route, masq or tunnel, got {raw.get('method')!r}")
    default_port = 0 if service.fwmark is not None else service.port
    port = as_int(NAME, f"{where} {ip} port", raw["port"], 0, 65535) if raw.get("port") is not None else default_port
    if method != "masq" and service.fwmark is None and port != service.port:
        # ipvsadm silently rewrites it (only NAT can translate ports); refuse rather than never converge.
        raise ModuleError(
            f"{NAME}: {where} {ip}: port {port} is not the service port {service.port}; only method masq maps ports"
        )
    weight = as_int(NAME, f"{where} {ip} weight", raw.get("weight", 1), 0, 65535)
    return IpvsDest(ip=ip, port=port, weight=weight, method=method)


def _service(index: int, raw) -> IpvsService:
    where = f"services[{index}]"
    if not isinstance(raw, dict):
        raise ModuleError(f"{NAME}: {where} must be a mapping, got {raw!r}")
    unknown = sorted(set(raw) - set(_SERVICE_KEYS))
    if unknown:
        raise ModuleError(f"{NAME}: {where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(_SERVICE_KEYS)})")
    fwmark = as_int(NAME, f"{where} fwmark", raw["fwmark"], 1, 2**32 - 1) if raw.get("fwmark") is not None else None
    if fwmark is None:
        if raw.get("vip") is None or raw.get("port") is None:
            raise ModuleError(f"{NAME}: {where}: give vip and port (or fwmark)")
        protocol = str(raw.get("protocol") or "tcp").upper()
        if protocol not in PROTOCOL_SWITCH:
            raise ModuleError(f"{NAME}: {where}: protocol must be tcp, udp or sctp, got {raw.get('protocol')!r}")
        vip, port = str(as_ipv4(NAME, f"{where} vip", raw["vip"])), as_int(NAME, f"{where} port", raw["port"], 1, 65535)
    else:
        protocol, vip, port = "FWM", None, None
    scheduler = raw.get("scheduler") or "wlc"
    if scheduler not in SCHEDULERS:
        raise ModuleError(f"{NAME}: {where}: scheduler must be one of {', '.join(SCHEDULERS)}, got {scheduler!r}")
    persistence = raw.get("persistence")
    persistence = as_int(NAME, f"{where} persistence", persistence, 1, 2**31 - 1) if persistence is not None else None
    netmask = _netmask(where, raw.get("netmask"))
    if netmask and persistence is None:
        raise ModuleError(f"{NAME}: {where}: netmask only applies to persistent services; set persistence too")
    service = IpvsService(protocol, vip, port, fwmark, scheduler, persistence, netmask)
    label = f"{where} ({service.label})"
    raws = raw.get("destinations") or []
    if not isinstance(raws, list):
        raise ModuleError(f"{NAME}: {label}: destinations must be a list")
    for raw_dest in raws:
        dest = _destination(label, raw_dest, service)
        if any((d.ip, d.port) == (dest.ip, dest.port) for d in service.destinations):
            raise ModuleError(f"{NAME}: {label}: destination {dest.ip}:{dest.port} is listed twice")
        service.destinations.append(dest)
    return service


def desired_services(services) -> list[IpvsService]:
    if not isinstance(services, list):
        raise ModuleError(f"{NAME}: services must be a list, got {services!r}")
    result = [_service(i, raw) for i, raw in enumerate(services)]
    seen = set()
    for service in result:
        if service.key in seen:
            raise ModuleError(f"{NAME}: virtual service {service.label} is defined twice")
        seen.add(service.key)
    return result


def _args(args: dict) -> tuple[list[IpvsService], bool]:
    check_args(NAME, args, ("services",), ("purge",))
    purge = as_bool(NAME, "purge", args.get("purge", True))
    return desired_services(args["services"]), purge is not False


# ---- ipvsadm syntax --------------------------------------------------------------------------------------


def _addr(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def service_switch(service: IpvsService) -> str:
    if service.fwmark is not None:
        return f"-f {service.fwmark}"
    return f"{PROTOCOL_SWITCH[service.protocol]} {_addr(service.vip, service.port)}"


def service_options(service: IpvsService) -> str:
    text = f"-s {q(service.scheduler)}"
    if service.persistence is not None:
        text += f" -p {service.persistence}"
        if service.netmask:
            text += f" -M {service.netmask}"
    return text


def dest_rule(service: IpvsService, dest: IpvsDest) -> str:
    return f"{service_switch(service)} -r {_addr(dest.ip, dest.port)} {METHOD_SWITCH[dest.method]} -w {dest.weight}"


def _sort_key(service: IpvsService):
    if service.fwmark is not None:
        return (1, "", 0, 0, service.fwmark)
    return (0, service.protocol, int(IPv4Address(service.vip)) if ":" not in service.vip else 0, service.port, 0)


def _dest_sort_key(dest: IpvsDest):
    return (int(IPv4Address(dest.ip)) if ":" not in dest.ip else 0, dest.ip, dest.port)


def rules_text(services) -> str:
    """The canonical `ipvsadm -R` input for these services, in a stable order (same syntax as `ipvsadm -Sn`)."""
    lines = []
    for service in sorted(desired_services(services), key=_sort_key):
        lines.append(f"-A {service_switch(service)} {service_options(service)}")
        lines += [f"-a {dest_rule(service, d)}" for d in sorted(service.destinations, key=_dest_sort_key)]
    return "".join(line + "\n" for line in lines)


def scheduler_modules(services) -> list[str]:
    """Kernel modules the schedulers need (ip_vs loads them on demand, but a boot-time list wants names)."""
    return sorted({f"ip_vs_{s.scheduler}" for s in desired_services(services)})


# ---- plan -------------------------------------------------------------------------------------------------


def _describe(service: IpvsService) -> str:
    text = service.scheduler
    if service.persistence is not None:
        text += f" persistent {service.persistence}"
        if service.netmask:
            text += f" mask {service.netmask}"
    return text


def _describe_dest(dest: IpvsDest) -> str:
    return f"-> {_addr(dest.ip, dest.port)} {dest.method} weight {dest.weight}"


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
            diff.append(f"  ~ -> {_addr(dest.ip, dest.port)} {', '.join(changes)}")
            commands.append(f"ipvsadm -e {dest_rule(want, dest)}")
    for key, old in current.items():
        if key not in wanted:
            diff.append(f"  - {_describe_dest(old)}")
            commands.append(f"ipvsadm -d {service_switch(want)} -r {_addr(old.ip, old.port)}")
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
