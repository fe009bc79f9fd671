"""Rules that need the whole cluster: groups, addresses, subnets, modes, duplicates. No I/O.

Each rule is a pure function Cluster -> list[Problem]; `validate` runs all of them, so one run reports
everything. Type and range errors are found earlier, while the model is built (see model.explain); rules
here tolerate the holes those leave (a host whose lvs_rip was invalid has rip None and is skipped).
What each mode allows is stated in lvs.MODES; the rules here check a cluster against it, and nothing after
validation checks it again (modules trust their typed input).
"""

from __future__ import annotations

import posixpath
import re
from ipaddress import IPv4Address, IPv4Network
from pathlib import PurePosixPath

from . import checkers
from . import failover as failover_module
from .errors import Problem
from .lvs import MODES, SUPPORTED_MODES
from .model import CIDR_TEXT, DIRECTORS, REALSERVERS, REQUIRED_VARS, STORAGE, Cluster, Host, Share, VirtualService


def _svc(svc: VirtualService, path: str, what: str) -> Problem:
    return svc.origin.at(path).problem(f"service {svc.name}: {path}" if path else f"service {svc.name}", what)


def _host(host: Host, var: str, what: str) -> Problem:
    return host.origin.at(var).problem(f"host {host.name}: {var}" if var else f"host {host.name}", what)


def _share(share: Share, path: str, what: str) -> Problem:
    return share.origin.at(path).problem(f"share {share.name}: {path}" if path else f"share {share.name}", what)


def _names(hosts: list[Host]) -> str:
    return ", ".join(h.name for h in hosts) or "none"


# ---- hosts -----------------------------------------------------------------------------------------

def required_host_vars(cluster: Cluster) -> list[Problem]:
    """Directors need lvs_dip, real servers lvs_rip, storage nodes lvs_storage_ip."""
    problems = []
    for host in cluster.hosts.values():
        for group, var in REQUIRED_VARS.items():
            # a value that was present but invalid is already reported; only report a missing one
            if group in host.groups and var not in host.vars:
                problems.append(_host(host, var, f"is required for hosts in group {group} ({CIDR_TEXT})"))
    return problems


def managed_hosts(cluster: Cluster) -> list[Problem]:
    """An inventory that manages nothing is a mistake (a wrong file, an empty one), not a plan of 0 changes.
    The commands check it (cli.py); load_cluster does not, so it reads any Ansible inventory."""
    if cluster.directors() or cluster.realservers() or cluster.storage_nodes():
        return []
    return [cluster.origin.at().problem("inventory", f"has no host in group {DIRECTORS}, {REALSERVERS} or "
                                                     f"{STORAGE}: there is nothing for lvsdeploy to manage")]


def directors(cluster: Cluster) -> list[Problem]:
    directors = cluster.directors()
    if cluster.services and not directors:
        names = ", ".join(s.name for s in cluster.services)
        return [cluster.origin.at("lvs_virtual_services").problem(
            "lvs_virtual_services", f"services are defined ({names}) but group {DIRECTORS} has no hosts")]
    return []


def failover(cluster: Cluster) -> list[Problem]:
    """Two or more directors share the VIPs by keepalived's VRRP (lvsdeploy/failover.py)."""
    directors = cluster.directors()
    settings = cluster.failover
    problems = [_host(h, "lvs_vrrp_priority", f"only applies to hosts in group {DIRECTORS}")
                for h in cluster.hosts.values() if h.vrrp_priority is not None and not h.is_director]
    if len(directors) < 2:
        if settings is not None:
            problems.append(cluster.origin.at("lvs_failover").problem(
                "lvs_failover", f"needs two or more hosts in group {DIRECTORS} (has {len(directors)}: "
                                f"{_names(directors)})"))
        return problems
    first = directors[0]
    if first.health_checker != "keepalived":
        problems.append(_host(first, "lvs_health_checker", f"is {first.health_checker}, but {len(directors)} "
                              f"directors ({_names(directors)}) fail over with keepalived, which then also keeps "
                              "the IPVS table on each of them: set lvs_health_checker: keepalived"))
    nets = {d.dip.network for d in directors if d.dip is not None}
    if len(nets) > 1:
        problems.append(_host(directors[1], "lvs_dip", f"directors' DIPs are in different networks "
                              f"({', '.join(sorted(map(str, nets)))}); VRRP and connection sync need them on one"))
    prio = failover_module.priorities(cluster)
    seen: dict[int, str] = {}
    for director in directors:
        other = seen.setdefault(prio[director.name], director.name)
        if other != director.name:
            problems.append(_host(director, "lvs_vrrp_priority", f"priority {prio[director.name]} is also "
                                  f"{other}'s; give each director its own, the master's the highest"))
    nat = [s for s in cluster.services if MODES[s.mode].gateway_via_dip]
    gateway = settings.gateway if settings is not None else None
    where = settings.origin if settings is not None else nat[0].origin if nat else cluster.origin
    written_but_invalid = settings is None and "lvs_failover" in cluster.origin.entries   # reported already
    if nat and gateway is None and not written_but_invalid:
        problems.append(where.at("" if settings is not None else "mode").problem(
            "lvs_failover: gateway", f"is required for nat service {nat[0].name} with {len(directors)} "
                                     "directors: the real servers' default gateway, an address that moves with "
                                     f"the VIPs ({CIDR_TEXT} in the DIP network)"))
    if gateway is not None:
        if not nat:
            problems.append(where.at("gateway").problem("lvs_failover: gateway", "only applies to nat services "
                                                                                "(their real servers' gateway)"))
        if gateway.network.prefixlen < 31 and gateway.ip in (gateway.network.network_address,
                                                             gateway.network.broadcast_address):
            problems.append(where.at("gateway").problem(
                "lvs_failover: gateway", f"{gateway} is the network or broadcast address, not a host address"))
        if nets and any(gateway.network != net for net in nets):
            problems.append(where.at("gateway").problem("lvs_failover: gateway", f"{gateway} is not in the "
                            f"directors' DIP network {', '.join(sorted(map(str, nets)))}"))
        used = {iface.ip: (h.name, var) for h in cluster.hosts.values() for var, iface in h.addresses().items()}
        used.update({s.vip: (f"service {s.name}", "vip") for s in cluster.services if s.vip})
        if gateway.ip in used:
            name, var = used[gateway.ip]
            problems.append(where.at("gateway").problem("lvs_failover: gateway", f"{gateway.ip} is also {var} of "
                                                                                 f"{name}; it needs its own address"))
    return problems


def director_is_not_realserver(cluster: Cluster) -> list[Problem]:
    # a real server holds the VIP without answering ARP for it; the director must answer: they conflict
    return [_host(h, "", f"is in both {DIRECTORS} and {REALSERVERS}; a director cannot also be a real server")
            for h in cluster.hosts.values() if h.is_director and h.is_realserver]


def usable_addresses(cluster: Cluster) -> list[Problem]:
    problems = []
    for host in cluster.hosts.values():
        for var, iface in host.addresses().items():
            net = iface.network
            if net.prefixlen < 31 and iface.ip in (net.network_address, net.broadcast_address):
                kind = "network" if iface.ip == net.network_address else "broadcast"
                problems.append(_host(host, var, f"{iface} is the {kind} address of {net}, not a host address"))
    return problems


def unique_addresses(cluster: Cluster) -> list[Problem]:
    """One address, one host: lvs_dip/lvs_rip/lvs_storage_ip/lvs_client_ip and the VIPs."""
    problems = []
    owner: dict[IPv4Address, tuple[str, str]] = {}
    for host in cluster.hosts.values():
        for var, iface in host.addresses().items():
            first = owner.setdefault(iface.ip, (host.name, var))
            if first[0] != host.name:
                problems.append(_host(host, var, f"address {iface.ip} is already used by host {first[0]} ({first[1]})"))
    for svc in cluster.services:
        if svc.vip in owner:
            name, var = owner[svc.vip]
            problems.append(_svc(svc, "vip", f"{svc.vip} is also {var} of host {name}; a VIP needs its own address"))
    return problems


# ---- services --------------------------------------------------------------------------------------

def supported_modes(cluster: Cluster) -> list[Problem]:
    return [_svc(s, "mode", f"{s.mode} is planned but not supported yet; use {', '.join(SUPPORTED_MODES)}")
            for s in cluster.services if not MODES[s.mode].supported]


def unique_services(cluster: Cluster) -> list[Problem]:
    problems = []
    names: dict[str, VirtualService] = {}
    keys: dict[str, VirtualService] = {}
    for svc in cluster.services:
        first = names.setdefault(svc.name, svc)
        if first is not svc:
            problems.append(_svc(svc, "name", f"duplicate service name (first at {first.origin.at()})"))
        first = keys.setdefault(svc.key, svc)
        if first is not svc:
            problems.append(_svc(svc, "fwmark" if svc.fwmark is not None else "vip",
                                 f"same virtual service ({svc.key}) as service {first.name}"))
    return problems


def fwmark_marks(cluster: Cluster) -> list[Problem]:
    """A port lvsdeploy marks belongs to one service: IPVS looks a marked packet up by its mark first, so a
    second service marking it, or a plain service on it, would never see its packets."""
    problems = []
    marked: dict[tuple[str, str, int], VirtualService] = {}
    for svc in cluster.services:
        for i, port in enumerate(svc.fwmark_ports):
            first = marked.setdefault((str(svc.vip), svc.protocol, port), svc)
            if first is not svc:
                problems.append(_svc(svc, f"fwmark_ports[{i}]", f"{svc.protocol} {svc.vip}:{port} is marked by "
                                                                f"service {first.name} already"))
    for svc in cluster.services:
        if svc.fwmark is None and (owner := marked.get((str(svc.vip), svc.protocol, svc.port))):
            problems.append(_svc(svc, "port", f"{svc.protocol} {svc.vip}:{svc.port} is in service {owner.name}'s "
                                              f"fwmark_ports: its packets carry mark {owner.fwmark} and go to "
                                              f"that service, never to this one"))
    return problems


def realserver_refs(cluster: Cluster) -> list[Problem]:
    """Every entry names a real server, once per port; every service has at least one."""
    problems = []
    realservers = cluster.realservers()
    for svc in cluster.services:
        if not svc.realservers:
            problems.append(_svc(svc, "realservers", "needs at least one real server"))
        seen: dict[tuple[str, int | None], int] = {}
        for i, rs in enumerate(svc.realservers):
            path = f"realservers[{i}].host"
            host = cluster.hosts.get(rs.host)
            if host is None:
                problems.append(_svc(svc, path, f"unknown host '{rs.host}' (real servers: {_names(realservers)})"))
            elif not host.is_realserver:
                problems.append(_svc(svc, path, f"host '{rs.host}' is not in group {REALSERVERS} "
                                                f"(real servers: {_names(realservers)})"))
            first = seen.setdefault((rs.host, rs.port), i)
            if first != i:
                problems.append(_svc(svc, path, f"{rs.host} port {rs.port} is listed twice "
                                                f"(also realservers[{first}])"))
    return problems


def port_mapping(cluster: Cluster) -> list[Problem]:
    # dr and tun deliver the packet unchanged (same destination port); only the masquerading modes rewrite it
    mappers = " and ".join(n for n, m in MODES.items() if m.maps_ports and m.supported)
    problems = [_svc(s, f"realservers[{i}].port", f"{rs.port} differs from the service port {s.port}; "
                                                  f"{s.mode} mode cannot map ports (only {mappers} can)")
                for s in cluster.services if not MODES[s.mode].maps_ports and s.port is not None
                for i, rs in enumerate(s.realservers) if rs.port != s.port]
    # the kernel maps a persistent connection's port only when it is the service's own port (ip_vs_sched_persist),
    # and a fwmark service has none: seen on the lab, a connection to :8009 went to RIP:8009, not RIP:80. Known only
    # when lvsdeploy marks the ports (with the user's own marks, port 80 for marked port 80 is right)
    for s in cluster.services:
        if not (s.fwmark_ports and s.persistence and MODES[s.mode].maps_ports):
            continue
        for i, rs in enumerate(s.realservers):
            if rs.port and set(s.fwmark_ports) != {rs.port}:
                # a port the real server took from the service is reported where the user wrote it
                where = "port" if rs.port == s.port else f"realservers[{i}].port"
                problems.append(_svc(s, where, f"{rs.port} would never be used: IPVS keeps each packet's port for "
                                               "a persistent fwmark service (it maps only a service's own port, "
                                               "and a fwmark service has none); leave the port out and let "
                                               f"{rs.host} listen on the marked ports"))
                break
    return problems


def persistence(cluster: Cluster) -> list[Problem]:
    problems = []
    for svc in cluster.services:
        mask = svc.persistence_netmask
        if mask is None:
            continue
        if svc.persistence is None:
            problems.append(_svc(svc, "persistence_netmask", "only applies with persistence; set persistence too"))
        try:
            IPv4Network(f"0.0.0.0/{mask}")
        except ValueError:
            problems.append(_svc(svc, "persistence_netmask", f"{mask} is not a netmask (ones then zeros)"))
    return problems


def realserver_subnets(cluster: Cluster) -> list[Problem]:
    """dr: real servers on the director's LAN (frames go to their MAC); nat: there too, so that the DIP
    can be their default gateway and replies flow back through the director."""
    problems = []
    directors = [d for d in cluster.directors() if d.dip is not None]
    for svc in cluster.services:
        why = MODES[svc.mode].same_lan
        if why is None or not directors:
            continue
        for i, rs in enumerate(svc.realservers):
            host = cluster.hosts.get(rs.host)
            if host is None or host.rip is None:
                continue
            if not any(host.rip.ip in d.dip.network for d in directors):
                d = directors[0]
                problems.append(_svc(svc, f"realservers[{i}].host",
                                     f"{host.name} (lvs_rip {host.rip}) is not in the director's network "
                                     f"{d.dip.network} (lvs_dip of {d.name}); {why}"))
    return problems


def nat_not_mixed(cluster: Cluster) -> list[Problem]:
    # nat real servers route replies via the DIP; dr/tun real servers reply directly: one host can't do both
    problems = []
    for host in cluster.realservers():
        nat = [s for s in cluster.services_for(host.name) if MODES[s.mode].gateway_via_dip]
        other = [s for s in cluster.services_for(host.name) if MODES[s.mode].vip_device]   # reply directly
        if nat and other:
            later = max(nat[0], other[0], key=cluster.services.index)
            i = later.hosts().index(host.name)
            problems.append(_svc(later, f"realservers[{i}].host",
                                 f"{host.name} serves nat service {nat[0].name} and {other[0].mode} service "
                                 f"{other[0].name}; nat needs the DIP as default route, which conflicts with "
                                 f"{other[0].mode} replying directly: use one kind of mode per real server"))
    return problems


def fullnat_limits(cluster: Cluster) -> list[Problem]:
    """What FULLNAT's source NAT (lvs.MODES snat_to_dip) does not cover yet, refused rather than half done."""
    problems = []
    directors = cluster.directors()
    for svc in cluster.services:
        if not MODES[svc.mode].snat_to_dip:
            continue
        if svc.fwmark is not None:
            problems.append(_svc(svc, "fwmark", f"{svc.mode} with a fwmark service is not supported yet: the "
                                                "source NAT rule matches a virtual address and port"))
        if len(directors) > 1:
            problems.append(_svc(svc, "mode", f"{svc.mode} with {len(directors)} directors is not supported yet: "
                                              "each director rewrites sources to its own DIP, so a connection "
                                              "synced to the backup would break on failover; use nat"))
    return problems


# ---- health checks ---------------------------------------------------------------------------------

HTTP_ONLY = ("path", "status", "expect", "virtualhost")


def health_checks(cluster: Cluster) -> list[Problem]:
    """Each service's check is complete for its type, can reach a port, and is one the director's checker can
    run (checkers.unsupported says which combinations a daemon cannot express)."""
    problems = []
    checker = checkers.checker_of(cluster)
    for svc in cluster.services:
        check = svc.health_check
        if check is None:
            continue
        written = {key for key in type(check).model_fields if f"health_check.{key}" in svc.origin.entries}
        if check.type == "misc" and check.command is None:
            problems.append(_svc(svc, "health_check.command", "is required for a misc check (the command the "
                                                              "director runs; exit 0 means the real server is up)"))
        if check.type != "misc" and "command" in written:
            problems.append(_svc(svc, "health_check.command", f"only applies to a misc check, not {check.type}"))
        for key in HTTP_ONLY:
            if check.type not in ("http", "https") and key in written:
                problems.append(_svc(svc, f"health_check.{key}", f"only applies to an http or https check, "
                                                                 f"not {check.type}"))
        if check.type in ("tcp", "http", "https") and check.port is None:
            if svc.protocol != "tcp":
                problems.append(_svc(svc, "health_check.port", f"is required for a {check.type} check of a "
                                     f"{svc.protocol} service: the TCP port the check connects to"))
            elif any(not rs.port for rs in svc.realservers):
                problems.append(_svc(svc, "health_check.port", f"is required for a {check.type} check of a "
                                     "fwmark service without a port: the port the check connects to"))
        if check.timeout > check.interval * check.retries + 60:
            problems.append(_svc(svc, "health_check.timeout", f"{check.timeout} s is far longer than the checks "
                                 "it belongs to; use a timeout below interval × retries"))
        sorry = check.sorry_server
        if sorry is not None and sorry.address.is_loopback and MODES[svc.mode].method == "masq":
            # seen on the lab: the kernel drops it ("ip_vs_nat_xmit(): stopping DNAT to loopback address")
            problems.append(_svc(svc, "health_check.sorry_server.address", f"{sorry.address} is a loopback "
                                 f"address, which IPVS never masquerades to ({svc.mode} mode): use an address "
                                 "of the director such as its DIP"))
    if checker != "none":   # every service, with a check of its own or the default one
        problems += [_svc(svc, path, why) for svc in cluster.services
                     for path, why in checkers.unsupported(checker, svc)]
    return problems


def health_check_warnings(cluster: Cluster) -> list[Problem]:
    """Worth saying, not worth stopping: a check that nothing runs."""
    if checkers.checker_of(cluster) != "none":
        return []
    return [_svc(s, "health_check", "not used: lvs_health_checker is none, so nothing runs this check")
            for s in cluster.services if s.health_check is not None]


def one_checker(cluster: Cluster) -> list[Problem]:
    directors = cluster.directors()
    return [_host(d, "lvs_health_checker", f"{d.health_checker} differs from {directors[0].health_checker} "
                                           f"on {directors[0].name}: all directors run one checker")
            for d in directors[1:] if d.health_checker != directors[0].health_checker]


# ---- shares ----------------------------------------------------------------------------------------

def share_server(cluster: Cluster) -> list[Problem]:
    problems = []
    storage = cluster.storage_nodes()
    for share in cluster.shares:
        host = cluster.hosts.get(share.server)
        if host is None:
            problems.append(_share(share, "server", f"unknown host '{share.server}' "
                                                    f"(storage nodes: {_names(storage)})"))
        elif not host.is_storage:
            problems.append(_share(share, "server", f"host '{share.server}' is not in group {STORAGE} "
                                                    f"(storage nodes: {_names(storage)})"))
    return problems


# A share must never be exported from, or mounted over, the system itself: these directories exactly, and
# anything inside the trees of SYSTEM_TREES.
SYSTEM_DIRS = {"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media",
               "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/local",
               "/var", "/var/lib", "/var/log", "/var/tmp", "/var/cache", "/var/spool", "/var/www"}
SYSTEM_TREES = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run", "/sbin",
                "/sys", "/usr/bin", "/usr/lib", "/usr/sbin", "/var/lib")
SAFE_PATH = re.compile(r"^(/[A-Za-z0-9_.@+-]+)+$")


def share_paths(cluster: Cluster) -> list[Problem]:
    """Absolute, normal, plain paths (they reach fstab, the exports file, the iSCSI target and root's shell),
    never the system's; a block share's device may be a device node under /dev."""
    problems = []
    for share in cluster.shares:
        for key in ("export", "device", "mount"):
            path = getattr(share, key)
            if path is None:
                continue
            device_node = key == "device" and path.startswith("/dev/")
            if not path.startswith("/"):
                problems.append(_share(share, key, f"must be an absolute path, got {path!r}"))
            elif not SAFE_PATH.match(path.rstrip("/") or "/") or posixpath.normpath(path) != path.rstrip("/"):
                problems.append(_share(share, key, f"{path!r} must be a normal absolute path (no '..', '.' or '//') "
                                                   "of letters, digits and '_.@+-'"))
            elif device_node:
                if path.rstrip("/").count("/") < 2 or path.endswith("/"):
                    problems.append(_share(share, key, f"{path} is not a device; name one like "
                                                       "/dev/disk/by-id/virtio-lun0"))
            elif (path.rstrip("/") or "/") in SYSTEM_DIRS or any(path.startswith(t + "/") for t in SYSTEM_TREES):
                problems.append(_share(share, key, f"{path} is a system directory; use a directory of its own "
                                                   "like /srv/lvs/content"))
    return problems


def unique_shares(cluster: Cluster) -> list[Problem]:
    """Distinct names, distinct exports and devices per server."""
    problems = []
    names: dict[str, Share] = {}
    exports: dict[tuple[str, PurePosixPath], Share] = {}
    for share in cluster.shares:
        first = names.setdefault(share.name, share)
        if first is not share:
            problems.append(_share(share, "name", f"duplicate share name (first at {first.origin.at()})"))
        key = "device" if share.is_block else "export"
        path = getattr(share, key)
        if path is None:
            continue
        first = exports.setdefault((share.server, PurePosixPath(path)), share)
        if first is not share:
            problems.append(_share(share, key, f"{path} on {share.server} is already exported by share {first.name}"))
    return problems


def share_clients(cluster: Cluster) -> list[Problem]:
    """Clients are known hosts, listed once; one mount point per client holds one share."""
    problems = []
    mounts: dict[tuple[str, PurePosixPath], Share] = {}
    for share in cluster.shares:
        seen: set[str] = set()
        for i, client in enumerate(share.clients or []):
            if client not in cluster.hosts:
                problems.append(_share(share, f"clients[{i}]", f"unknown host '{client}'"))
            elif client in seen:
                problems.append(_share(share, f"clients[{i}]", f"{client} is listed twice"))
            else:
                first = mounts.setdefault((client, PurePosixPath(share.mount)), share)
                if first is not share:
                    problems.append(_share(share, "mount", f"{share.mount} on {client} is already the mount "
                                                           f"point of share {first.name}"))
            seen.add(client)
    return problems


KEY_BYTES = (128, 4096)   # corosync's authkey: at least 1024 bits
GFS2_FS_NAME = re.compile(r"^[A-Za-z0-9_-]{1,30}$")   # the lock table's second half, CLUSTER:NAME


def block_shares(cluster: Cluster) -> list[Problem]:
    """gfs2/ocfs2: a name the lock table takes, enough journals for the clients, one cluster stack per host; a
    corosync key that exists and is of a size corosync takes."""
    problems = []
    key = cluster.storage_cluster.key_file
    if key is not None:
        path = cluster.source.parent / key
        size = path.stat().st_size if path.is_file() else None
        if size is None or not KEY_BYTES[0] <= size <= KEY_BYTES[1]:
            problems.append(cluster.storage_cluster.origin.at("key_file").problem(
                "lvs_storage_cluster: key_file", f"{path} must be a file of {KEY_BYTES[0]} to {KEY_BYTES[1]} bytes "
                f"(corosync-keygen -k {key} makes one), got {'no file' if size is None else f'{size} bytes'}"))
    stacks: dict[str, Share] = {}
    folded: dict[tuple[str, str], Share] = {}
    if any(s.type == "ocfs2" for s in cluster.shares) and not cluster.storage_cluster.name.isalnum():
        problems.append(cluster.storage_cluster.origin.at("name").problem(
            "lvs_storage_cluster: name", f"o2cb takes letters and digits only, got {cluster.storage_cluster.name!r}"))
    for share in cluster.shares:
        if not share.is_block:
            continue
        # IQNs fold case and '_': two names that fold alike would be one target
        first = folded.setdefault((share.server, share.name.lower().replace("_", "-")), share)
        if first is not share:
            problems.append(_share(share, "name", f"names the same iSCSI target as share {first.name} "
                                                  "(IQNs ignore case, and '_' becomes '-')"))
        clients = share.clients or []
        if share.type == "gfs2" and not GFS2_FS_NAME.match(share.name):
            problems.append(_share(share, "name", "a gfs2 share's name is its lock table name: at most 30 letters, "
                                                  f"digits, '_' or '-', got {share.name!r}"))
        if not clients:
            problems.append(_share(share, "clients", f"a {share.type} share needs at least one client"))
        if share.journals is not None and share.journals < len(clients):
            problems.append(_share(share, "journals", f"{share.journals} journals for {len(clients)} clients: "
                                                      "each client that mounts needs its own"))
        for i, client in enumerate(clients):
            first = stacks.setdefault(client, share)
            if first.type != share.type:
                problems.append(_share(share, f"clients[{i}]", f"{client} already mounts {first.type} share "
                                                               f"{first.name}; a host runs one cluster stack "
                                                               "(corosync+dlm for gfs2, o2cb for ocfs2)"))
    return problems


RULES = (
    required_host_vars, directors, failover, director_is_not_realserver, usable_addresses, unique_addresses,
    supported_modes, unique_services, realserver_refs, port_mapping, persistence, realserver_subnets,
    nat_not_mixed, fullnat_limits, fwmark_marks, health_checks, one_checker, share_server, share_paths, unique_shares,
    share_clients, block_shares,
)


def validate(cluster: Cluster) -> list[Problem]:
    """Every problem every rule finds, in rule order."""
    return [problem for rule in RULES for problem in rule(cluster)]
