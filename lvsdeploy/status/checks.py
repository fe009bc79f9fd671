"""The health checker's view in `lvsdeploy status`: each checked real server probed the way its check does it,
from the director, in the same one read (in parallel, each bounded by its check's timeout and PROBE_LIMIT). The table says
whether the checker has a real server in rotation; the probe says why not: "GET http://10.20.0.11:80/whoami
(expected status 200) answered 404". The probes are verify's (lvsdeploy/verify/spec.py), so both say the same.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from lvsdeploy.checkers import checker_of
from lvsdeploy.desired import ipvs_service
from lvsdeploy.model import Cluster
from lvsdeploy.verify.spec import Probe, probe


@dataclass(frozen=True)
class CheckedDest:
    service: str    # the service's label, "TCP 10.20.0.10:80"
    dest: str       # "10.20.0.11:80"
    probe: Probe


def checked_dests(cluster: Cluster) -> list[CheckedDest]:
    """Every real server a health checker checks (none without a checker, or for a service without a check)."""
    if checker_of(cluster) == "none":
        return []
    found = []
    for svc in cluster.services:
        kernel = ipvs_service(cluster, svc)
        for dest in kernel.destinations:
            test = probe(svc, dest.ip, dest.port)
            if test is not None:
                found.append(CheckedDest(kernel.label, f"{dest.ip}:{dest.port}", test))
    return found


PROBE_LIMIT = 10   # seconds any one probe may take (a misc command has no timeout of its own)


def probe_script(dests: list[CheckedDest]) -> str:
    """Shell that runs every probe at once and prints each answer in its own section, "@@ probe N". An answer
    need not end its line (curl's -w '%{http_code}' does not): each header starts a line of its own."""
    if not dests:
        return ""
    lines = ['lvs_probes=$(mktemp -d)']
    lines += [f'timeout {PROBE_LIMIT} bash -c {shlex.quote(d.probe.command)} >"$lvs_probes/{i}" 2>/dev/null &'
              for i, d in enumerate(dests)]
    lines.append("wait")
    lines += [f"echo; echo '@@ probe {i}'; cat \"$lvs_probes/{i}\"" for i in range(len(dests))]
    lines.append('rm -rf "$lvs_probes"')
    return "\n".join(lines) + "\n"


def verdicts(dests: list[CheckedDest], answers: dict[int, str]) -> dict[tuple[str, str], tuple[str, str | None]]:
    """{(service, dest): ("up" | "down", why it is down)}; a probe with no answer section is left out."""
    found = {}
    for i, d in enumerate(dests):
        if i not in answers:
            continue
        answer = answers[i].strip()
        found[(d.service, d.dest)] = (("up", None) if answer == d.probe.expect else
                                      ("down", f"{d.probe.shown} answered {answer or 'nothing'}"))
    return found
