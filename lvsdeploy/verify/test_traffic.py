"""Real traffic through each VIP from the inventory's first client: every request answered, every real server
with weight > 0 reached (under a scheduler that spreads one client: rr, wrr, lc, wlc without persistence or
connection thresholds), and under rr/wrr the split matches the weights.

TCP: HTTP requests, counted by IPVS on the director (so it works whatever the real servers serve).
UDP: datagrams (a DNS query on port 53), each from a new source port; every one must be answered from the VIP,
and the spread is counted by IPVS the same way."""

import os
import pytest

from .checks import (connection_counts, counting_director, counts_after, failure, in_rotation, spreads_one_client,
                     udp_probe_command)

REQUESTS_PER_SERVER = int(os.environ.get("LVSDEPLOY_VERIFY_REQUESTS", "10"))
TOLERANCE = 0.2   # rr/wrr: each server's count within 20% of its expected share of the requests
UDP_TIMEOUT = float(os.environ.get("LVSDEPLOY_VERIFY_UDP_TIMEOUT", "3"))


def _expected_shares(scheduler: str, weights: dict, requests: int) -> dict:
    """What each server should get: rr takes turns among the servers with weight > 0 (the weight only says
    whether a server takes part), wrr splits by weight."""
    if scheduler == "rr":
        weights = {key: 1 if weight > 0 else 0 for key, weight in weights.items()}
    total = sum(weights.values())
    return {key: requests * weight / total for key, weight in weights.items()} if total else {}


def _assert_split(where: str, service, counts: dict, weights: dict, requests: int) -> None:
    """counts and weights keyed alike (a destination or a real server): weight > 0 reached (where the scheduler
    spreads), weight 0 idle, and under rr/wrr without persistence or thresholds each one's count near its
    expected share of the requests."""
    spreads = spreads_one_client(service)
    for key, weight in weights.items():
        if weight > 0:
            assert counts.get(key, 0) > 0 or not spreads, failure(where, f"{service.name} spread", f"{key} reached",
                                                                   counts)
        else:
            assert counts.get(key, 0) == 0, failure(where, f"{service.name} weight 0", f"{key} idle", counts)
    if service.scheduler in ("rr", "wrr") and spreads:
        for key, share in _expected_shares(service.scheduler, weights, requests).items():
            assert abs(counts.get(key, 0) - share) <= max(1, TOLERANCE * share), failure(
                where, f"{service.name} {service.scheduler} split", f"{key} ~{share:.0f}", counts)


def _through_vip(service, cluster, remote, protocol: str, send) -> None:
    """Traffic from the first client, counted by IPVS on the director (with failover the master). `send(client,
    requests)` sends the requests and returns (what was asked, how many went unanswered)."""
    clients = cluster.clients()
    if not clients:
        pytest.skip("no host in group clients")
    if service.protocol != protocol or not service.vip or not ports(service):
        pytest.skip(f"this check is for {protocol.upper()} services with a VIP and a port (or marked ports)")
    director = counting_director(cluster, remote, str(service.vip))
    client, lb = remote(clients[0].name), remote(director.name)
    live = {f"{cluster.hosts[r.host].rip.ip}:{r.port}": r.weight for r in service.realservers}
    # a real server a checker took out gets nothing
    rotation = in_rotation(lb, cluster, service, live)
    live = {dest: (weight if dest in rotation else 0) for dest, weight in live.items()}
    # all real servers out of rotation: the requests must still be answered (by a sorry server)
    requests = REQUESTS_PER_SERVER * max(1, len([w for w in live.values() if w > 0]))
    # a fwmark service is counted as its mark; one whose ports lvsdeploy marks is asked on each in turn
    mark = service.fwmark
    before = connection_counts(lb, str(service.vip), service.port, service.protocol, mark)
    asked, unanswered = send(client, requests)
    after = counts_after(lb, str(service.vip), service.port, service.protocol, before, requests, mark)
    assert not unanswered, failure(clients[0].name, asked, f"{requests} answered", f"{unanswered} without an answer")
    delta = {dest: after.get(dest, 0) - before.get(dest, 0) for dest in live}
    if any(w > 0 for w in live.values()):
        _assert_split(director.name, service, delta, live, requests)


def ports(service) -> list[int]:
    """The ports clients use: the service's, or those lvsdeploy marks for a fwmark service."""
    return list(service.fwmark_ports) or ([service.port] if service.port else [])


def test_http_through_vip(service, cluster, remote):
    urls = [f"http://{service.vip}:{port}/" for port in ports(service)]

    def send(client, requests):
        asked = " ".join(urls[i % len(urls)] for i in range(requests))
        codes = client.check_output(f"for url in {asked}; do "
                                    f"curl -s -o /dev/null -w '%{{http_code}}\\n' --max-time 5 $url; done")
        return f"requests to {', '.join(urls)}", codes.split().count("000")

    _through_vip(service, cluster, remote, "tcp", send)


def test_udp_through_vip(service, cluster, remote):
    def send(client, requests):
        answered, targets = 0, ports(service)
        for i, port in enumerate(targets):   # each port its share of the datagrams, the first one the rest
            count = requests // len(targets) + (requests % len(targets) if i == 0 else 0)
            if count:
                answers = client.check_output(udp_probe_command(str(service.vip), port, count, UDP_TIMEOUT))
                answered += answers.split().count("answered")
        return (f"datagrams to udp {service.vip}:{','.join(map(str, targets))} (each within "
                f"{UDP_TIMEOUT:g} s)", requests - answered)

    _through_vip(service, cluster, remote, "udp", send)
