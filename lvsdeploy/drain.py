"""Drained real servers: weight 0 for one real server of a service, remembered on each director.

`lvsdeploy drain` records "SERVICE DEST SINCE" lines in DRAINED on every director and applies; every later
plan reads the record back from the director's facts, so an apply keeps the drained real server at weight 0
(and says so) until `lvsdeploy undrain` takes its lines out. The record lives on the directors, not in the
inventory: a drain is an operation in progress, not a wish about the cluster.

One line per (service, destination): "TCP 10.20.0.10:80 10.20.0.11:80 2026-11-30T14:20:05Z".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from lvsdeploy.facts import IpvsService
from lvsdeploy.model import Cluster

DRAINED = "/etc/lvsdeploy/drained"
HEADER = ("# Managed by lvsdeploy: real servers drained (weight 0) by `lvsdeploy drain`, kept so by every apply\n"
          "# until `lvsdeploy undrain`. One line per service and real server: SERVICE DEST SINCE.\n")
_SINCE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


@dataclass(frozen=True)
class Drain:
    service: str     # the service's label: "TCP 10.20.0.10:80", "FWM 7"
    dest: str        # "10.20.0.11:80"
    since: str = ""  # UTC, ISO 8601 to the second

    @property
    def key(self) -> tuple[str, str]:
        return self.service, self.dest


def parse(content: bytes | None) -> dict[tuple[str, str], Drain]:
    """The record's lines; anything that is not one (a hand edit gone wrong) is skipped, never guessed at."""
    found = {}
    for line in (content or b"").decode("utf-8", "replace").splitlines():
        words = line.split()
        if line.startswith("#") or len(words) != 4 or not _SINCE.match(words[3]):
            continue
        drain = Drain(f"{words[0]} {words[1]}", words[2], words[3])
        found[drain.key] = drain
    return found


def render(drains: dict[tuple[str, str], Drain]) -> bytes:
    return (HEADER + "".join(f"{d.service} {d.dest} {d.since}\n" for _, d in sorted(drains.items()))).encode()


def effective(recorded: dict[tuple[str, str], Drain], add: list[Drain], remove: list[Drain]):
    """The record after this run's drain (`add`, keeping an earlier since) and undrain (`remove`)."""
    result = dict(recorded)
    for d in add:
        result.setdefault(d.key, d)
    for d in remove:
        result.pop(d.key, None)
    return result


def in_force(content: bytes | None, add: list[Drain], remove: list[Drain], wanted: set[tuple[str, str]]) -> dict:
    """The drains in force after this run: the director's record (`content`), this run's drain and undrain,
    and only for (service, dest) pairs the inventory still has (`wanted`)."""
    return {k: v for k, v in effective(parse(content), add, remove).items() if k in wanted}


def checker_vars(cluster: Cluster, host, files: dict) -> dict:
    """`lvs_drained` for a director whose health checker keeps the services: the "SERVICE DEST" pairs its
    configuration gives weight 0 (the checker's own way to drain: its configuration, then its reload). It needs
    the director's record, so the engine renders the director's tasks again once the facts are read."""
    from lvsdeploy.desired import ipvs_service
    if not host.is_director or host.health_checker == "none" or files is None:
        return {}
    fact = files.get(DRAINED)
    asked = [[Drain(str(d["service"]), str(d["dest"]), str(d.get("since", ""))) for d in part]
             for part in cluster.drain_request]
    services = [ipvs_service(cluster, s) for s in cluster.services]
    wanted = {(s.label, f"{d.ip}:{d.port}") for s in services for d in s.destinations}
    drains = in_force(fact.content if fact is not None and fact.exists else None, asked[0], asked[1], wanted)
    return {"lvs_drained": [f"{service} {dest}" for service, dest in sorted(drains)]}


def apply_to(services: list[IpvsService], drains: dict[tuple[str, str], Drain]) -> list[IpvsService]:
    """The wanted services with every drained destination at weight 0 (copies; the inputs are shared)."""
    out = []
    for service in services:
        dests = [replace(d, weight=0) if (service.label, f"{d.ip}:{d.port}") in drains else d
                 for d in service.destinations]
        out.append(replace(service, destinations=dests))
    return out


class DrainError(Exception):
    """A drain that cannot be done as asked; the message says why."""


def request(cluster: Cluster, host: str, service: str | None, since: str) -> list[dict]:
    """{service, dest, since} for `host` in every service that has it (or the one named). A request
    is refused only when the host serves no such service."""
    from lvsdeploy.desired import ipvs_service
    if host not in cluster.hosts or not cluster.hosts[host].is_realserver:
        raise DrainError(f"{host} is not a real server of {cluster.source}")
    services = [s for s in cluster.services if host in s.hosts() and (service is None or s.name == service)]
    if not services:
        named = f"service {service!r}" if service else "any service"
        raise DrainError(f"{host} is not a real server of {named} in {cluster.source}")
    rip = str(cluster.hosts[host].rip.ip)
    found = []
    for svc in services:
        kernel = ipvs_service(cluster, svc)
        for rs in svc.realservers:
            if rs.host == host:
                found.append({"service": kernel.label, "dest": f"{rip}:{rs.port}", "since": since})
    return found
