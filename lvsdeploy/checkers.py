"""Health checkers: what keepalived and ldirectord are told about each virtual service, and what each cannot say.

A director's `lvs_health_checker` names the daemon that owns its IPVS table. With "none", lvsdeploy sets the
table itself (modules/ipvs.py) and nothing tests the real servers. With keepalived or ldirectord, the daemon
creates the services from its configuration file, tests every real server and takes a failing one out of
rotation (or gives it weight 0: `on_failure: quiescent`); lvsdeploy writes that file (checked by the daemon's
own config test before it is installed), keeps the daemon running and reloads it after a change.

Everything here is pure: the validated model in, plain data for the templates out
(roles/director/templates/keepalived.conf.j2 and ldirectord.cf.j2).
"""

from __future__ import annotations

from dataclasses import dataclass

from .lvs import DEFAULT_CHECK, MODES
from .model import Cluster, Host, HealthCheck, VirtualService

KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"
LDIRECTORD_CONF = "/etc/ha.d/ldirectord.cf"
# The daemons' own config tests, run on the director against the new file before it replaces the old one.
# `ldirectord FILE status` parses FILE and exits 2 on an error; 3 means "parsed, not running for FILE".
CONFIG_TEST = {
    "keepalived": "keepalived -t -f %s",
    "ldirectord": "ldirectord %s status >/dev/null || [ $? -eq 3 ]",
}

KEEPALIVED_METHOD = {"masq": "NAT", "route": "DR", "tunnel": "TUN"}
LDIRECTORD_METHOD = {"masq": "masq", "route": "gate", "tunnel": "ipip"}
KEEPALIVED_CHECK = {"tcp": "TCP_CHECK", "http": "HTTP_GET", "https": "SSL_GET", "misc": "MISC_CHECK"}
LDIRECTORD_CHECK = {"tcp": "connect", "http": "negotiate", "https": "negotiate", "misc": "external", "none": "on"}


def checker_of(cluster: Cluster) -> str:
    """The checker of the cluster's directors (validate makes them agree)."""
    directors = cluster.directors()
    return directors[0].health_checker if directors else "none"


def resolved_check(svc: VirtualService) -> HealthCheck:
    """The service's check with the defaults filled in: the protocol's default type when none is given."""
    if svc.health_check is not None:
        return svc.health_check
    if any(not rs.port for rs in svc.realservers):   # a fwmark service without a port: nothing to connect to
        return HealthCheck(type="none")
    return HealthCheck(type=DEFAULT_CHECK[svc.protocol])


@dataclass(frozen=True)
class CheckedRealServer:
    host: str
    ip: str
    port: int
    weight: int
    check_port: int
    upper_threshold: int | None = None   # keepalived's uthreshold/lthreshold (ipvsadm -x/-y)
    lower_threshold: int | None = None


def _escape_regex(text: str) -> str:
    """Body text as a regular expression that matches it literally (ldirectord's receive is a Perl regex,
    keepalived's regex a POSIX one); CheckText allows only '.' among the special characters."""
    return text.replace(".", "\\.")


def service_data(cluster: Cluster, svc: VirtualService) -> dict:
    """One virtual service as both templates need it."""
    from .desired import ipvs_service   # desired.py builds on this module
    check = resolved_check(svc)
    method = MODES[svc.mode].method
    netmask = str(svc.persistence_netmask) if svc.persistence_netmask else None
    realservers = [
        CheckedRealServer(rs.host, str(cluster.hosts[rs.host].rip.ip), rs.port or 0, rs.weight,
                          check.port or rs.port or 0, rs.upper_threshold, rs.lower_threshold)
        for rs in svc.realservers
    ]
    return {
        "label": ipvs_service(cluster, svc).label,   # as the drain record names it
        "name": svc.name, "vip": str(svc.vip) if svc.vip else None, "port": svc.port or 0, "fwmark": svc.fwmark,
        "protocol": svc.protocol, "scheduler": svc.scheduler, "scheduler_flags": sorted(svc.scheduler_flags),
        "persistence": svc.persistence,
        "netmask": None if netmask in (None, "255.255.255.255") else netmask,
        "keepalived_method": KEEPALIVED_METHOD[method], "ldirectord_method": LDIRECTORD_METHOD[method],
        "check": check, "keepalived_check": KEEPALIVED_CHECK.get(check.type),
        "ldirectord_check": LDIRECTORD_CHECK[check.type],
        # keepalived retries after the first failure; `retries` counts every failed attempt
        "retry": check.retries - 1, "delay_before_retry": check.delay_before_retry or check.interval,
        "expect_regex": _escape_regex(check.expect) if check.expect else None,
        "realservers": realservers,
    }


def director_checker_vars(cluster: Cluster, host: Host) -> dict:
    """The variables the director role's checker tasks and templates see."""
    checker = host.health_checker
    services = [service_data(cluster, s) for s in cluster.services] if checker != "none" else []
    return {
        "lvs_health_checker": checker,
        "lvs_checker_services": services,
        "lvs_checker_scripts": any(s["check"].type == "misc" for s in services),
        "lvs_keepalived_conf": KEEPALIVED_CONF,
        "lvs_ldirectord_conf": LDIRECTORD_CONF,
        "lvs_keepalived_config_test": CONFIG_TEST["keepalived"],
        "lvs_ldirectord_config_test": CONFIG_TEST["ldirectord"],
    }


# ---- what each checker cannot express (validate.py turns these into problems at FILE:LINE) -------------------

def unsupported(checker: str, svc: VirtualService) -> list[tuple[str, str]]:
    """(field path, why) for each part of the service (its check, scheduler flags, thresholds) that `checker`
    cannot do."""
    if checker == "ldirectord" and svc.protocol == "sctp":
        return [("protocol", "ldirectord balances tcp, udp and fwmark services only: use keepalived for sctp")]
    found: list[tuple[str, str]] = []
    if checker == "ldirectord":   # its virtual= and real= lines carry no scheduler flags and no thresholds
        if svc.scheduler_flags:
            found.append(("scheduler_flags", "ldirectord cannot set scheduler flags (ipvsadm -b): leave them out or "
                          "use keepalived"))
        found += [(f"realservers[{i}].{key}", "ldirectord cannot set connection thresholds (ipvsadm -x/-y): "
                   "leave it out or use keepalived (uthreshold/lthreshold)")
                  for i, rs in enumerate(svc.realservers) for key in ("upper_threshold", "lower_threshold")
                  if getattr(rs, key) is not None]
    check = svc.health_check
    if check is None or checker == "none":
        return found
    if checker == "ldirectord":
        if check.delay_before_retry is not None and check.delay_before_retry != check.interval:
            found.append(("health_check.delay_before_retry", "ldirectord retries every interval "
                          "(checkinterval); it has no separate delay before a retry: leave it out or use keepalived"))
        for key in ("quorum", "hysteresis"):
            if getattr(check, key) is not None:
                found.append((f"health_check.{key}", f"ldirectord has no {key}: leave it out or use keepalived"))
        if check.type == "misc" and check.command and " " in check.command:
            found.append(("health_check.command", "ldirectord runs its checkcommand as one program without "
                          "arguments of its own (it passes VIP, port, RIP and port): give only the path"))
        if check.type in ("http", "https") and check.status != 200:
            found.append(("health_check.status", "ldirectord counts any 2xx answer as up and cannot expect "
                          f"{check.status}: leave it out or use keepalived"))
    return found
