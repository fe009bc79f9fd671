"""Small readers for the verify suite: what the hosts report, as plain data, and messages that say
host, check, expected and found."""

import json
import time
from ipaddress import IPv4Interface

from lvsdeploy.facts.mounts import parse_mounts


def failure(host: str, check: str, expected, found) -> str:
    return f"{host}: {check}: expected {expected}, found {found}"


def addresses(host) -> dict[str, list[IPv4Interface]]:
    data = json.loads(host.check_output("ip -j -4 addr show"))
    return {i["ifname"]: [IPv4Interface(f"{a['local']}/{a['prefixlen']}") for a in i.get("addr_info", [])]
            for i in data}


def sysctl(host, key: str) -> str:
    return host.check_output(f"cat /proc/sys/{key.replace('.', '/')}").strip()


def module_present(host, name: str) -> bool:
    return host.run(f"grep -qw '^{name}' /proc/modules || "
                    f"grep -q '/{name}.ko' /lib/modules/$(uname -r)/modules.builtin").rc == 0


def ipvs_rules(table) -> set[tuple]:
    """Comparable form of an IPVS table (facts.IpvsTable), one tuple per destination and per service."""
    rows = set()
    for svc in table.services:
        key = ("FWM", svc.fwmark) if svc.fwmark is not None else (svc.protocol.upper(), svc.vip, svc.port)
        rows.add((key, "scheduler", svc.scheduler, svc.persistence, svc.netmask))
        rows.update((key, d.ip, d.port, d.weight, d.method) for d in svc.destinations)
    return rows


def expected_rules(services: list[dict]) -> set[tuple]:
    rows = set()
    for svc in services:
        key = ("FWM", svc["fwmark"]) if svc["fwmark"] else (svc["protocol"].upper(), svc["vip"], svc["port"])
        netmask = svc["netmask"] if svc["netmask"] not in (None, "255.255.255.255") else None
        rows.add((key, "scheduler", svc["scheduler"], svc["persistence"], netmask))
        rows.update((key, d["ip"], d["port"], d["weight"], d["method"]) for d in svc["destinations"])
    return rows


# The kernel folds its per-CPU IPVS counters into what ipvsadm reports only every 2 s (the rate
# estimator's timer), so a snapshot waits that long for the last connections to show.
STATS_SETTLE_SECONDS = 3


def connection_counts(host, vip: str, port: int, protocol: str) -> dict[str, int]:
    """Connections per real server for one virtual service, from `ipvsadm -Ln --stats --exact`."""
    out = host.check_output(f"sleep {STATS_SETTLE_SECONDS}; ipvsadm -Ln --stats --exact")
    counts, inside = {}, False
    wanted = f"{vip}:{port}"
    for line in out.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] in ("TCP", "UDP", "SCTP", "FWM"):
            inside = parts[0] == protocol.upper() and parts[1] == wanted
        elif parts[0] == "->" and inside and parts[1][0].isdigit():
            counts[parts[1]] = int(parts[2])
    return counts


def wait_until(probe, timeout: float, interval: float = 3.0):
    """probe() until it returns something truthy or `timeout` seconds pass; returns its last answer. For state
    that comes back on its own after a boot (a background NFS mount retrying until its server is up)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer or time.monotonic() >= deadline:
            return answer
        time.sleep(interval)


def live_mounts(host) -> list:
    """The kernel's mounts (facts.Mount) as /proc/self/mounts lists them."""
    return parse_mounts(host.check_output("cat /proc/self/mounts"))


def nfs_exports(host) -> dict[str, dict[str, set[str]]]:
    """What the NFS server exports now: path -> client -> options, from /var/lib/nfs/etab (one line per
    path and client, written by exportfs and read by the server)."""
    table: dict[str, dict[str, set[str]]] = {}
    etab = host.run("cat /var/lib/nfs/etab")
    for line in etab.stdout.splitlines():
        path, _, rest = line.partition("\t")
        client, _, opts = rest.partition("(")
        if path and client:
            table.setdefault(path, {})[client] = set(opts.rstrip(")").split(","))
    return table
