"""Real HTTP through each VIP from the inventory's first client: every request answered, every real server
with weight > 0 reached, and under rr/wrr the split matches the weights (counted by IPVS on the director,
so it works whatever the real servers serve)."""

import os

import pytest

from .checks import connection_counts, failure

REQUESTS_PER_SERVER = int(os.environ.get("LVSDEPLOY_VERIFY_REQUESTS", "10"))
TOLERANCE = 0.2   # wrr: each server's share within 20% of its weight's share of the requests


def test_http_through_vip(service, cluster, remote):
    clients = cluster.clients()
    if not clients:
        pytest.skip("no host in group clients")
    if service.protocol != "tcp" or not service.vip or not service.port:
        pytest.skip("traffic check is for TCP services with a VIP")
    director = cluster.directors()[0]
    client, lb = remote(clients[0].name), remote(director.name)
    live = {f"{cluster.hosts[r.host].rip.ip}:{r.port}": r.weight for r in service.realservers}
    requests = REQUESTS_PER_SERVER * len([w for w in live.values() if w > 0])
    before = connection_counts(lb, str(service.vip), service.port, service.protocol)
    url = f"http://{service.vip}:{service.port}/"
    codes = client.check_output(
        f"for i in $(seq {requests}); do curl -s -o /dev/null -w '%{{http_code}}\\n' --max-time 5 {url}; done")
    after = connection_counts(lb, str(service.vip), service.port, service.protocol)
    failed = [c for c in codes.split() if c == "000"]
    assert not failed, failure(clients[0].name, f"requests to {url}", f"{requests} answered",
                               f"{len(failed)} without an answer")
    delta = {dest: after.get(dest, 0) - before.get(dest, 0) for dest in live}
    for dest, weight in live.items():
        if weight > 0:
            assert delta[dest] > 0, failure(director.name, f"{service.name} spread", f"{dest} reached", delta)
        else:
            assert delta[dest] == 0, failure(director.name, f"{service.name} weight 0", f"{dest} idle", delta)
    if service.scheduler in ("rr", "wrr") and not service.persistence:
        total_weight = sum(live.values())
        for dest, weight in live.items():
            share = requests * weight / total_weight
            assert abs(delta[dest] - share) <= max(1, TOLERANCE * share), failure(
                director.name, f"{service.name} {service.scheduler} split", f"{dest} ~{share:.0f}", delta)
