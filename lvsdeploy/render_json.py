"""The plan and the apply recap as JSON for scripts (`--format json`): the same facts the review and the recap
show, with stable keys. Schemas "lvsdeploy.plan/1" and "lvsdeploy.apply/1" (docs/json.md); a new key may
appear within a version, a key that changes meaning or goes away makes the next one.
"""

from __future__ import annotations

from .engine import HostRun

PLAN_SCHEMA = "lvsdeploy.plan/1"
APPLY_SCHEMA = "lvsdeploy.apply/1"
VALIDATE_SCHEMA = "lvsdeploy.validate/1"


def _host(run: HostRun) -> dict:
    plan = run.plan
    return {
        "host": run.host.name,
        "planned": "failed" if run.status == "failed" and (plan is None or plan.error) else "ok",
        "error": run.error,
        "changes": [{"resource": p.change.resource, "task": p.task, "diff": list(p.change.diff)}
                    for p in (plan.changes if plan else [])],
        "handlers": [name for name, _ in (plan.handlers if plan else [])],
        "notes": list(plan.notes) if plan else [],
        "round_trips": run.round_trips,
    }


def plan_document(runs: list[list[HostRun]]) -> dict:
    flat = [r for phase in runs for r in phase]
    hosts = [_host(r) for r in flat]
    return {"schema": PLAN_SCHEMA, "hosts": hosts,
            "summary": {"changes": sum(len(h["changes"]) for h in hosts),
                        "hosts_changing": sum(1 for h in hosts if h["changes"]), "hosts": len(hosts),
                        "hosts_failed": sum(1 for h in hosts if h["planned"] == "failed")}}


def apply_document(runs: list[list[HostRun]], planned: dict) -> dict:
    """The plan as it was made (`planned`, from plan_document before the apply), then each host's outcome."""
    flat = [r for phase in runs for r in phase]
    recap = [{"host": r.host.name, "status": r.status, "error": r.error, "round_trips": r.round_trips,
              "seconds": round(r.seconds, 1),
              "changes": len(r.plan.changes) if r.plan and r.status == "changed" else 0} for r in flat]
    return {"schema": APPLY_SCHEMA, "plan": planned, "recap": recap}


def _service(s) -> dict:
    """One service as validate saw it: the keys of version 1, then (added within it) what IPVS is told besides."""
    return {"name": s.name, "key": s.key, "mode": s.mode, "scheduler": s.scheduler,
            "realservers": [{"host": r.host, "port": r.port, "weight": r.weight,
                             "upper_threshold": r.upper_threshold, "lower_threshold": r.lower_threshold}
                            for r in s.realservers],
            "protocol": s.protocol, "vip": str(s.vip), "port": s.port, "fwmark": s.fwmark,
            "fwmark_ports": list(s.fwmark_ports), "scheduler_flags": list(s.scheduler_flags),
            "persistence": s.persistence,
            "persistence_netmask": str(s.persistence_netmask) if s.persistence_netmask else None}


def validate_document(source: str, cluster, problems: list) -> dict:
    """`validate --format json`: valid or not, every problem at FILE:LINE, and what the inventory describes."""
    document = {"schema": VALIDATE_SCHEMA, "inventory": str(source), "valid": cluster is not None,
                "problems": [{"file": p.file, "line": p.line, "where": p.where, "what": p.what} for p in problems],
                "warnings": [str(w) for w in cluster.warnings] if cluster is not None else []}
    if cluster is None:
        return document
    from .checkers import checker_of
    document.update({
        "directors": [h.name for h in cluster.directors()],
        "realservers": [h.name for h in cluster.realservers()],
        "storage": [h.name for h in cluster.storage_nodes()],
        "health_checker": checker_of(cluster) if cluster.directors() else None,
        "services": [_service(s) for s in cluster.services],
        "shares": [{"name": s.name, "type": s.type, "server": s.server, "mount": str(s.mount),
                    "source": s.export if s.type == "nfs" else s.device} for s in cluster.shares],
    })
    return document
