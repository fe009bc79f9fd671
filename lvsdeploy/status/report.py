"""The live table of each director set against the inventory: one report per director, plain data (the text,
JSON and Prometheus outputs are drawn from it). Mismatches are named, not judged: a real server a health
checker took out is "out of rotation", one missing with no checker is "missing from the table".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from lvsdeploy.checkers import checker_of
from lvsdeploy.desired import ipvs_service
from lvsdeploy.model import Cluster
from lvsdeploy.status import checks
from lvsdeploy.status.table import DirectorTable, LiveService

SCHEMA = "lvsdeploy.status/1"


@dataclass
class Backend:
    host: str | None              # the inventory's name for it; None: not in the inventory
    address: str                  # "10.20.0.11:80"
    inventory_weight: int | None  # None: not in the inventory
    weight: int | None            # live; None: not in the table
    active: int = 0
    inactive: int = 0
    stats: dict[str, int] = field(default_factory=dict)
    rates: dict[str, int] = field(default_factory=dict)
    issue: str | None = None
    drained_since: str | None = None   # `lvsdeploy drain`: weight 0 is wanted, not a mismatch
    check: str | None = None           # its health check probed now: "up", "down"; None: no checker or check
    check_reason: str | None = None    # why it is down: "GET http://… (expected status 200) answered 404"


@dataclass
class Service:
    name: str | None              # the inventory's name; None: not in the inventory (left alone by apply)
    label: str                    # "TCP 10.20.0.10:80"
    scheduler: str | None         # live; None: not in the table
    flags: str = ""
    vip_here: bool | None = None  # does this director hold the VIP now (None: a fwmark service)
    backends: list[Backend] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    rates: dict[str, int] = field(default_factory=dict)
    issues: list[str] = field(default_factory=list)


@dataclass
class Director:
    name: str
    state: str                    # ok, not-loaded, no-ipvsadm, unreachable
    error: str | None = None
    checker: str = "none"
    vrrp_state: str | None = None  # with failover: MASTER, BACKUP, FAULT (keepalived's last since it started)
    services: list[Service] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def issues(self) -> int:
        return sum(len(s.issues) + sum(b.issue is not None for b in s.backends) for s in self.services)


def _backends(cluster: Cluster, svc, live: LiveService | None, checker: str, drains: dict,
              verdicts: dict) -> list[Backend]:
    wanted = ipvs_service(cluster, svc)
    names = {(str(cluster.hosts[rs.host].rip.ip), rs.port): rs.host for rs in svc.realservers}
    rows = []
    for dest in wanted.destinations:
        found = live.dest(dest.ip, dest.port) if live else None
        row = Backend(names[(dest.ip, dest.port)], f"{dest.ip}:{dest.port}", dest.weight,
                      found.weight if found else None)
        drained = drains.get((wanted.label, row.address))
        row.drained_since = drained.since if drained else None
        row.check, row.check_reason = verdicts.get((wanted.label, row.address), (None, None))
        why = f": {row.check_reason}" if row.check_reason else ""
        if found:
            row.active, row.inactive, row.stats, row.rates = found.active, found.inactive, found.stats, found.rates
            if drained and found.weight != 0:
                row.issue = f"drained since {drained.since}, but weight {found.weight}"
            elif drained:
                pass
            elif found.weight != dest.weight:
                row.issue = (f"weight {found.weight}, inventory {dest.weight}"
                             + (f" (quiescent: its check fails{why})" if found.weight == 0 and checker != "none"
                                else ""))
        elif live is not None:
            row.issue = (f"out of rotation: its check fails{why}" if checker != "none" else "missing from the table")
        rows.append(row)
    if live is not None:
        known = {(d.ip, d.port) for d in wanted.destinations}
        for found in live.destinations:
            if (found.ip, found.port) not in known:
                rows.append(Backend(None, f"{found.ip}:{found.port}", None, found.weight, found.active,
                                    found.inactive, found.stats, found.rates,
                                    "not in the inventory" if found.forward != "Local" else "sorry server"))
    return rows


def director_report(cluster: Cluster, name: str, table: DirectorTable, probed: list | None = None) -> Director:
    """`probed`: the status.checks.CheckedDest list whose probes the read ran (their answers are in `table`)."""
    checker = checker_of(cluster)
    verdicts = checks.verdicts(probed or [], table.probes)
    report = Director(name, table.state, checker=checker, totals=table.totals, vrrp_state=table.vrrp_state)
    if table.state != "ok":
        return report
    seen = set()
    for svc in cluster.services:
        wanted = ipvs_service(cluster, svc)
        live = table.service(wanted.label)
        seen.add(wanted.label)
        row = Service(svc.name, wanted.label, live.scheduler if live else None, live.flags if live else "",
                      None if svc.fwmark is not None else str(svc.vip) in table.addresses)
        row.backends = _backends(cluster, svc, live, checker, table.drains, verdicts)
        if live is None:
            row.issues.append("missing from the table")
        else:
            row.stats, row.rates = live.stats, live.rates
            if live.scheduler != svc.scheduler:
                row.issues.append(f"scheduler {live.scheduler}, inventory {svc.scheduler}")
            if live.scheduler_flags != sorted(svc.scheduler_flags):
                row.issues.append(f"scheduler flags {','.join(live.scheduler_flags) or 'none'}, inventory "
                                  f"{','.join(sorted(svc.scheduler_flags)) or 'none'}")
            if live.persistence != svc.persistence:
                row.issues.append(f"persistence {live.persistence or 'none'}, inventory {svc.persistence or 'none'}")
        report.services.append(row)
    for live in table.services:
        if live.label not in seen:
            report.services.append(Service(None, live.label, live.scheduler, live.flags, None,
                                           _backends_foreign(live), live.stats, live.rates,
                                           ["not in the inventory (apply leaves it alone)"]))
    return report


def _backends_foreign(live: LiveService) -> list[Backend]:
    return [Backend(None, f"{d.ip}:{d.port}", None, d.weight, d.active, d.inactive, d.stats, d.rates)
            for d in live.destinations]


def unreachable(cluster: Cluster, name: str, error: str) -> Director:
    return Director(name, "unreachable", error=error, checker=checker_of(cluster))


def as_json(directors: list[Director]) -> dict:
    """The documented JSON shape (docs/status.md): stable keys, schema version first."""
    return {"schema": SCHEMA, "directors": [dict(asdict(d), issue_count=d.issues) for d in directors]}
