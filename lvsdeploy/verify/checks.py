"""Small readers for the verify suite: what the hosts report, as plain data, and messages that say
host, check, expected and found."""

import json
import re
import shlex
import struct
import time
from ipaddress import IPv4Interface

from lvsdeploy.facts.kernel import sysctl_path
from lvsdeploy.facts.mounts import parse_mounts, unescape

from .spec import (CHECKER_CONFIGS, FSTAB_MARK, MODES, ShareMount, destination_row, failover,
                   probe, service_row, service_rows)


def failure(host: str, check: str, expected, found) -> str:
    return f"{host}: {check}: expected {expected}, found {found}"


def addresses(host) -> dict[str, list[IPv4Interface]]:
    data = json.loads(host.check_output("ip -j -4 addr show"))
    return {i["ifname"]: [IPv4Interface(f"{a['local']}/{a['prefixlen']}") for a in i.get("addr_info", [])]
            for i in data}


def held_addresses(host) -> set[str]:
    """Every IPv4 address the host holds, on any interface."""
    return {str(a.ip) for addrs in addresses(host).values() for a in addrs}


# Which director is master, and which are backups: reported at the end of the run (conftest's terminal summary).
FAILOVER_STATE: list[str] = []


def counting_director(cluster, remote, vip: str):
    """The director whose IPVS counters see traffic to `vip`: the only one, or with failover the master (the
    one holding the VIP; a backup's table is there but gets nothing)."""
    directors = cluster.directors()
    if not failover(cluster):
        return directors[0]
    holders = [d for d in directors if vip in held_addresses(remote(d.name))]
    assert len(holders) == 1, failure(", ".join(d.name for d in directors), f"VIP {vip}", "on exactly one director",
                                      [d.name for d in holders] or "on none")
    return holders[0]


# keepalived's journal since it last started, in seconds since boot: a guest's wall clock can step or drift, and
# a persistent journal's previous boot can then sort after this start. Since it left "inactive", not since it
# became active: keepalived logs its first "Entering BACKUP STATE (init)" before systemd calls it started.
KEEPALIVED_JOURNAL = ("echo since $(systemctl show -p InactiveExitTimestampMonotonic --value keepalived.service); "
                      "journalctl -b 0 -u keepalived.service -o short-monotonic --no-pager "
                      "| grep -E 'Entering [A-Z]+ STATE'")


def vrrp_transitions(journal: str) -> list[tuple[float, str]]:
    """(seconds since boot, "MASTER"/"BACKUP"/"FAULT") of each VRRP state keepalived entered since it last
    started, from KEEPALIVED_JOURNAL's output."""
    lines = journal.splitlines()
    since = lines[0].split()[1:] if lines and lines[0].startswith("since") else []
    started = int(since[0]) / 1e6 if since and since[0].isdigit() else 0.0
    found = []
    for line in lines:
        stamp, state = re.match(r"\[\s*([\d.]+)\]", line), re.search(r"Entering ([A-Z]+) STATE", line)
        if stamp and state and float(stamp.group(1)) >= started:
            found.append((float(stamp.group(1)), state.group(1)))
    return found


def vrrp_state(host) -> str:
    """The VRRP state keepalived last logged since it started ("MASTER", "BACKUP", "FAULT"), or "unknown"."""
    transitions = vrrp_transitions(host.run(KEEPALIVED_JOURNAL).stdout)
    return transitions[-1][1] if transitions else "unknown"


def sync_daemons(host) -> set[str]:
    """The IPVS connection sync daemons running: {"master"}, {"backup"}, both, or none."""
    return {line.split()[0] for line in host.run("ipvsadm -L --daemon").stdout.splitlines() if "sync daemon" in line}


def sysctl(host, key: str) -> str:
    """The live value of a sysctl key ("absent" when the kernel has no such key)."""
    result = host.run(f"cat {shlex.quote(sysctl_path(key))}")
    return result.stdout.strip() if result.rc == 0 else "absent"


def sysctl_conf(text: str) -> dict[str, str]:
    """key -> value of a sysctl.d file ("key = value" lines; comments and blanks skipped)."""
    settings = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")) and "=" in line:
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    return settings


def module_present(host, name: str) -> bool:
    return host.run(f"grep -qw '^{name}' /proc/modules || "
                    f"grep -q '/{name}.ko' /lib/modules/$(uname -r)/modules.builtin").rc == 0


# `ipvsadm -Sn` (and `ipvsadm -R` files): how a line names its service, and each mode's forwarding switch as
# spec states it. Read here, not with the engine's facts reader: a swapped switch in the engine must show.
SERVICE_SWITCHES = {"-t": "TCP", "-u": "UDP", "--sctp-service": "SCTP", "-f": "FWM"}
METHOD_OF_SWITCH = {rule.ipvsadm_switch: rule.method for rule in MODES.values()}


def ipvs_rows(text: str) -> set[str]:
    """The rows of spec.ipvs_rows for an IPVS table in `ipvsadm -Sn` syntax."""
    rows = set()
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or words[0] not in ("-A", "-a") or words[1] not in SERVICE_SWITCHES:
            continue
        protocol, key, options = SERVICE_SWITCHES[words[1]], words[2], words[3:]

        def option(name):
            return options[options.index(name) + 1] if name in options[:-1] else None
        label = f"FWM {key}" if protocol == "FWM" else f"{protocol} {key}"
        if words[0] == "-A":
            persistence, flags = option("-p"), option("-b")
            rows.add(service_row(label, option("-s") or "wlc", int(persistence) if persistence else None,
                                 option("-M"), tuple(flags.split(",")) if flags else ()))
        else:
            switch = next((o for o in options if o in METHOD_OF_SWITCH), "-g")   # ipvsadm's default is -g
            ip, _, port = (option("-r") or "").rpartition(":")
            rows.add(destination_row(label, ip, int(port or 0), METHOD_OF_SWITCH[switch], int(option("-w") or 1)))
    return rows


def threshold_rows(listing: str) -> dict[tuple[str, str], tuple[int, int]]:
    """{(service label, "RIP:port"): (upper, lower)} for every real server of `ipvsadm -Ln --thresholds`, zeros
    included (a real server without a row is not in the table): "TCP  10.20.0.10:80 rr" / "FWM  7 sh" then
    "  -> 10.20.0.11:80   5   0   0   0"."""
    rows, label = {}, None
    for words in map(str.split, listing.splitlines()):
        if len(words) >= 2 and words[0] in SERVICE_SWITCHES.values():
            label = f"{words[0]} {words[1]}"
        elif label and len(words) >= 4 and words[0] == "->" and words[2].isdigit() and words[3].isdigit():
            rows[(label, words[1])] = (int(words[2]), int(words[3]))
    return rows


# Real servers a health checker has taken out, with the reason verify's own probe found: reported at the end of
# the run (conftest's terminal summary), not counted as failures of the deployment.
DOWN_BY_HEALTH_CHECK: list[str] = []
DRAINED: list[str] = []


def drained_rows(host, director: str, cluster) -> dict[str, str]:
    """{inventory row: the same row at weight 0} for each real server `lvsdeploy drain` drained on this
    director (its record): weight 0 is then what the table must show. Each is noted in DRAINED."""
    from lvsdeploy import drain
    record = host.run(f"cat {drain.DRAINED}")
    drains = drain.parse(record.stdout.encode()) if record.rc == 0 else {}
    rows = {}
    for _, label, _, dests in service_rows(cluster):
        for dest in dests:
            found = drains.get((label, f"{dest.ip}:{dest.port}"))
            if found is not None:
                rows[dest.row()] = dest.row(weight=0)
                DRAINED.append(f"{director}: {label} -> {dest.ip}:{dest.port} ({dest.host}) drained since "
                               f"{found.since} (weight 0 until `lvsdeploy undrain`)")
    return rows


def checked_rows(host, director: str, cluster, checker: str, found: set[str], drained: dict[str, str]) -> set[str]:
    """The rows a checker-kept table must have: the inventory's, except that a real server which fails verify's
    own probe of its health check may be missing (on_failure remove) or at weight 0 (quiescent), and a
    service's sorry server may stand in. Each such real server is noted in DOWN_BY_HEALTH_CHECK."""
    wanted = set()
    config = host.file(CHECKER_CONFIGS[checker]).content_string
    for svc, label, service, dests in service_rows(cluster):
        wanted.add(service)
        for dest in dests:
            if drained.get(dest.row(), dest.row()) in found:   # a drained one at weight 0 from the config
                wanted.add(drained.get(dest.row(), dest.row()))
                continue
            test = probe(svc, dest.ip, dest.port)
            answer = host.run(test.command).stdout.strip() if test else None
            # excused only if the checker was told about it: a checker that never knew a real server did not
            # take it out
            named = f"real_server {dest.ip} {dest.port} " in config or f"real={dest.ip}:{dest.port} " in config
            if test is None or answer == test.expect or not named:
                # up by verify's own probe: the checker must have it in the table (at weight 0 when drained)
                wanted.add(drained.get(dest.row(), dest.row()))
                continue
            if dest.row(weight=0) in found:
                wanted.add(dest.row(weight=0))
            DOWN_BY_HEALTH_CHECK.append(f"{director}: {label} -> {dest.ip}:{dest.port} ({dest.host}) is out of "
                                        f"rotation, taken out by {checker}: {test.shown} answered {answer or 'nothing'}")
        sorry = svc.health_check.sorry_server if svc.health_check else None
        if sorry is not None:
            wanted |= {r for r in found if r.startswith(f"{label} -> {sorry.address}:{sorry.port} ")}
    return wanted


def table_difference(wanted: set[str], found: set[str]) -> str:
    return f"missing {sorted(wanted - found) or 'nothing'}, extra {sorted(found - wanted) or 'nothing'}"


# The kernel folds its per-CPU IPVS counters into what ipvsadm reports only every 2 s (the rate estimator's
# timer): after traffic, the counters are read again until they show it (on a slow host the timer can run
# late); a check that passes returns as soon as they do.
STATS_FOLD_SECONDS = 8
STATS_POLL_SECONDS = 0.3


SPREADING = ("rr", "wrr", "lc", "wlc")   # schedulers that spread one client's short connections over all


def spreads_one_client(service) -> bool:
    """Do one client's requests reach every real server? Only under a scheduler that spreads them: sh, dh, mh,
    lblc(r) and persistence keep one client on one server; sed and nq pick the first idle one; fo/ovf the
    heaviest; and a connection threshold skips a real server while it holds that many (TIME_WAIT counts)."""
    capped = any(rs.upper_threshold for rs in service.realservers)
    return service.scheduler in SPREADING and not service.persistence and not capped


def in_rotation(host, cluster, service, dests) -> set[str]:
    """Those of `dests` ("IP:PORT" of the service's real servers) that get new connections: not those a checker
    took out or set to weight 0, nor those `lvsdeploy drain` drained (test_director reports why)."""
    now = _service_column(host.check_output("ipvsadm -Ln"), str(service.vip), service.port, service.protocol, 2,
                          service.fwmark)
    return {dest for dest in dests if now.get(dest, 0) > 0}


def connection_counts(host, vip: str, port: int, protocol: str, fwmark: int | None = None) -> dict[str, int]:
    """Connections per real server for one virtual service (with `fwmark`, the fwmark service), from
    `ipvsadm -Ln --stats --exact`."""
    return _service_column(host.check_output("ipvsadm -Ln --stats --exact"), vip, port, protocol, 1, fwmark)


def _service_column(out: str, vip: str, port: int, protocol: str, column: int,
                    fwmark: int | None = None) -> dict[str, int]:
    """One numeric column per real server of one virtual service in `ipvsadm -Ln` output (2: the weight;
    with --stats, 1: connections). A fwmark service is listed as "FWM  MARK"."""
    counts, inside = {}, False
    wanted = ("FWM", str(fwmark)) if fwmark is not None else (protocol.upper(), f"{vip}:{port}")
    for line in out.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] in ("TCP", "UDP", "SCTP", "FWM"):
            inside = tuple(parts[:2]) == wanted
        elif parts[0] == "->" and inside and parts[1][0].isdigit():
            counts[parts[1]] = int(parts[1 + column])
    return counts


def counts_after(host, vip: str, port: int, protocol: str, before: dict[str, int], sent: int,
                 fwmark: int | None = None) -> dict[str, int]:
    """The counts once they show `sent` more connections than `before` (folded), or after waiting
    STATS_FOLD_SECONDS for that: the caller's assertions then say what is missing."""
    deadline = time.monotonic() + STATS_FOLD_SECONDS
    while True:
        after = connection_counts(host, vip, port, protocol, fwmark)
        if sum(after.values()) - sum(before.values()) >= sent or time.monotonic() >= deadline:
            return after
        time.sleep(STATS_POLL_SECONDS)


# A DNS query for the root's NS records: any DNS server answers it (if only with REFUSED), so a UDP service on
# port 53 is probed with it; other ports get a line of text.
DNS_ROOT_QUERY = struct.pack(">HHHHHH", 0x4C56, 0x0100, 1, 0, 0, 0) + b"\x00" + struct.pack(">HH", 2, 1)
TEXT_PROBE = b"lvsdeploy verify\n"

# Runs on a client host (python3). A new connected socket per datagram: a new source port, so IPVS schedules each
# one as a new connection, and the kernel hands back only replies from ADDRESS:PORT (a reply from a RIP is not
# an answer). Prints one line per datagram: "answered", or "-" when nothing came back within the timeout.
UDP_PROBE = """\
import socket, sys
address, port, count, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
payload = bytes.fromhex(sys.argv[5])
for _ in range(count):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect((address, port))
        try:
            s.send(payload)
            answered = bool(s.recv(4096))
        except OSError:
            answered = False
        print("answered" if answered else "-")
"""


def udp_probe_command(address: str, port: int, count: int, timeout: float) -> str:
    """A shell command sending `count` datagrams to address:port, "answered" or "-" per line."""
    payload = (DNS_ROOT_QUERY if port == 53 else TEXT_PROBE).hex()
    return " ".join(shlex.quote(str(a)) for a in ("python3", "-c", UDP_PROBE, address, port, count, timeout, payload))


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


def fstab_entries(text: str) -> list[tuple[str, str, str, str, bool]]:
    """(source, mount point, type, options, written by lvsdeploy) per fstab line; paths unescaped."""
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 4 and not fields[0].startswith("#"):
            entries.append((unescape(fields[0]), unescape(fields[1]).rstrip("/") or "/", fields[2], fields[3],
                            line.rstrip().endswith(FSTAB_MARK)))
    return entries


# Options the kernel lists in /proc/mounts exactly as given; others (rsize, bg, _netdev, ...) it drops or expands.
ECHOED_FLAGS = ("ro", "rw", "hard", "soft", "noexec", "nosuid", "nodev", "noatime")
NFS_TYPES = {"nfs", "nfs4"}   # an NFSv4 mount asked for as nfs is reported as nfs4


def mount_matches(wanted: ShareMount, live) -> bool:
    """Is the live mount (facts.Mount) the wanted one: its source, type, and every option the kernel echoes."""
    if live.src.rstrip("/") != wanted.src.rstrip("/"):
        return False
    if live.fstype != wanted.fstype and not {live.fstype, wanted.fstype} <= NFS_TYPES:
        return False
    want, have = _options(wanted.opts), _options(live.opts)
    if ("ro" in want) != ("ro" in have):
        return False
    if any(flag in want and flag not in have for flag in ECHOED_FLAGS):
        return False
    # vers=4 is met by the negotiated 4.2; vers=4.1 only by 4.1
    version, current = want.get("vers"), have.get("vers") or ""
    return version is None or current == version or current.startswith(version + ".")


def _options(text: str) -> dict[str, str | None]:
    pairs = (o.partition("=") for o in text.split(","))
    return {("vers" if key == "nfsvers" else key): value or None for key, _, value in pairs}
