"""`lvsdeploy status`: what each director's IPVS table does now, against the inventory (read-only)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from lvsdeploy import failover
from lvsdeploy.executor import CONNECT_TIMEOUT, RemoteError, connect
from lvsdeploy.model import Cluster
from lvsdeploy.status.checks import checked_dests, probe_script
from lvsdeploy.status.report import Director, director_report, unreachable
from lvsdeploy.status.table import NOT_RUNNING, STATUS_SNIPPET, parse_status
from lvsdeploy.verify.checks import KEEPALIVED_JOURNAL

STATUS_TIMEOUT = 30   # seconds for the one read on a director


def read_directors(cluster: Cluster, connect_timeout: float = CONNECT_TIMEOUT, forks: int = 5) -> list[Director]:
    """One round trip per director, all at once; a director that cannot be read is reported as such. With a
    health checker, the same read probes each checked real server as its check does (status.checks)."""
    probed = checked_dests(cluster)
    script = STATUS_SNIPPET + "\n" + probe_script(probed)
    if failover.enabled(cluster):   # which VRRP state keepalived is in on each director
        script += (f"echo; echo '@@ vrrp'; systemctl is-active -q keepalived.service || echo {NOT_RUNNING}; "
                   f"{KEEPALIVED_JOURNAL}\n")

    def one(host) -> Director:
        try:
            session = connect(host, connect_timeout)
            try:
                result = session.run_script(script, timeout=STATUS_TIMEOUT)
            finally:
                session.close()
        except (RemoteError, OSError) as exc:
            return unreachable(cluster, host.name, str(exc))
        return director_report(cluster, host.name, parse_status(result.stdout), probed)

    directors = cluster.directors()
    if not directors:
        return []
    with ThreadPoolExecutor(max(1, min(forks, len(directors)))) as pool:
        return list(pool.map(one, directors))
