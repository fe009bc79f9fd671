"""What a cluster must look like, worked out from the inventory alone.

This is verify's own statement of the LVS rules (README.md's mode table, docs/inventory.md's shares). It
deliberately imports nothing of the engine that plans and applies (its mode rules, roles, modules or LVS
vocabulary): if the engine gets a rule wrong, verify must disagree with it instead of repeating the mistake.
Only the inventory is shared (lvsdeploy.inventory, lvsdeploy.model). Everything here is pure: a Cluster in,
plain data out.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from lvsdeploy.model import Cluster, Failover, Host, Share

# ---- the mode table ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModeRule:
    """One row of README's mode table, as verify checks it."""

    ipvsadm_switch: str                # forwarding method as `ipvsadm -Sn` prints it on a destination line
    method: str                        # the method's name in verify's rows (and the README)
    arp_suppressed_on: tuple[str, ...]  # interfaces with arp_ignore=1, arp_announce=2 on a real server
    rp_filter_off_on: tuple[str, ...]   # interfaces with rp_filter=0 on a real server
    vip_device: str | None             # where a real server holds the VIP as a /32 (None: it does not)
    realserver_modules: tuple[str, ...]
    route_via_dip: bool                # a real server's default route goes through the director's DIP


MODES = {
    "nat": ModeRule(ipvsadm_switch="-m", method="masq",
                    arp_suppressed_on=(), rp_filter_off_on=(),
                    vip_device=None, realserver_modules=(), route_via_dip=True),
    "dr": ModeRule(ipvsadm_switch="-g", method="route",
                   arp_suppressed_on=("all", "lo"), rp_filter_off_on=(),
                   vip_device="lo", realserver_modules=(), route_via_dip=False),
    "tun": ModeRule(ipvsadm_switch="-i", method="tunnel",
                    arp_suppressed_on=("all", "lo", "tunl0"), rp_filter_off_on=("all", "tunl0"),
                    vip_device="tunl0", realserver_modules=("ipip",), route_via_dip=False),
    # the director masquerades and also rewrites the client's source (FULLNAT_SOURCE_NAT): real servers need
    # nothing of LVS at all
    "fullnat": ModeRule(ipvsadm_switch="-m", method="masq",
                        arp_suppressed_on=(), rp_filter_off_on=(),
                        vip_device=None, realserver_modules=(), route_via_dip=False),
}

# Only the director may answer ARP for a VIP: reply only for addresses of the receiving interface (ignore=1),
# and never announce the VIP as a source (announce=2).
ARP_SUPPRESSION = {"arp_ignore": "1", "arp_announce": "2"}

DIRECTOR_SYSCTLS = {
    # a connection to a removed real server is dropped at once instead of hanging until it times out
    "net.ipv4.vs.expire_nodest_conn": "1",
    # a persistence template pointing at a weight-0 real server expires, so its clients move on
    "net.ipv4.vs.expire_quiescent_template": "1",
}
NAT_DIRECTOR_SYSCTLS = {"net.ipv4.ip_forward": "1"}   # NAT routes every reply through the director
# FULLNAT: netfilter sees IPVS's connections only when IPVS keeps conntrack entries for them
FULLNAT_DIRECTOR_SYSCTLS = {**NAT_DIRECTOR_SYSCTLS, "net.ipv4.vs.conntrack": "1"}
FAILOVER_DIRECTOR_SYSCTLS = {
    # a backup must not answer ARP for an address the master holds (ARP_SUPPRESSION, on every interface)
    **{f"net.ipv4.conf.all.{key}": value for key, value in ARP_SUPPRESSION.items()},
    # all directors speak one connection sync protocol, whatever each kernel's default
    "net.ipv4.vs.sync_version": "1",
}

# ---- where lvsdeploy keeps what must survive a reboot (docs/design.md) -------------------------------------

SYSCTL_FILE = "/etc/sysctl.d/90-lvsdeploy.conf"
MODULES_FILE = "/etc/modules-load.d/lvsdeploy.conf"
NETWORK_SCRIPT = "/usr/local/sbin/lvsdeploy-network"
NETWORK_UNIT = "lvsdeploy-network.service"
IPVS_RULES_FILE = "/etc/lvsdeploy/ipvs.rules"
IPVS_UNIT = "lvsdeploy-ipvs.service"
EXPORTS_FILE = "/etc/exports.d/lvsdeploy.exports"
FSTAB = "/etc/fstab"
FSTAB_MARK = "# lvsdeploy"
NFS_SERVER_UNIT = "nfs-server.service"

# ---- health checkers (docs/inventory.md "Health checks") -----------------------------------------------------

CHECKER_UNITS = {"keepalived": "keepalived.service", "ldirectord": "ldirectord.service"}
CHECKER_CONFIGS = {"keepalived": "/etc/keepalived/keepalived.conf", "ldirectord": "/etc/ha.d/ldirectord.cf"}
# with no health_check given, a TCP service is checked by a TCP connect to each real server's port; others (and
# a fwmark service without a port) are not checked
DEFAULT_CHECK_TYPE = {"tcp": "tcp"}


def health_checker(cluster: Cluster) -> str:
    """Who keeps the directors' IPVS table: "none" (lvsdeploy, with ipvsadm), "keepalived" or "ldirectord"."""
    directors = cluster.directors()
    return directors[0].health_checker if directors else "none"


def persisted_rows(cluster: Cluster) -> set[str]:
    """The table saved for boot: all of it when lvsdeploy keeps it; nothing when a checker's daemon does (the
    daemon creates its services at boot)."""
    return ipvs_rows(cluster) if health_checker(cluster) == "none" else set()


@dataclass(frozen=True)
class Probe:
    """How verify tests one real server the way its health check does, from the director: a shell command and
    what it must print."""

    command: str
    expect: str
    shown: str


def probe(svc, ip: str, port: int) -> Probe | None:
    """The probe for one real server of a service (None: the service has no check, it is never down)."""
    check = svc.health_check
    kind = check.type if check else DEFAULT_CHECK_TYPE.get(svc.protocol, "none") if port else "none"
    target = (check.port if check and check.port else None) or port
    timeout = check.timeout if check else 3
    if kind == "tcp":
        return Probe(f"timeout {timeout} bash -c '</dev/tcp/{ip}/{target}' && echo open || echo closed", "open",
                     f"tcp connect to {ip}:{target}")
    if kind in ("http", "https"):
        host = f" -H 'Host: {check.virtualhost}'" if check.virtualhost else ""
        url = f"{kind}://{ip}:{target}{check.path}"
        return Probe(f"curl -sk -o /dev/null -w '%{{http_code}}' --max-time {timeout}{host} '{url}'",
                     str(check.status), f"GET {url} (expected status {check.status})")
    if kind == "misc":
        vip = svc.fwmark or svc.vip   # as ldirectord: the fwmark of a fwmark service
        command = f"{check.command} {vip} {svc.port or 0} {ip} {port}"
        return Probe(f"{command} >/dev/null 2>&1 && echo up || echo down", "up", command)
    return None

# ---- directors ---------------------------------------------------------------------------------------------


def director_sysctls(cluster: Cluster) -> dict[str, str]:
    wanted = dict(DIRECTOR_SYSCTLS)
    if "nat" in cluster.modes():
        wanted.update(NAT_DIRECTOR_SYSCTLS)
    if "fullnat" in cluster.modes():
        wanted.update(FULLNAT_DIRECTOR_SYSCTLS)
    if failover(cluster):
        wanted.update(FAILOVER_DIRECTOR_SYSCTLS)
    # lvs_ipvs.sysctls: the inventory's own net.ipv4.vs.* values win over the defaults above
    wanted.update({f"net.ipv4.vs.{key}": str(value) for key, value in cluster.ipvs.sysctls.model_dump().items()
                   if value is not None})
    return wanted


def ipvs_timeouts(cluster: Cluster) -> dict[str, int]:
    """lvs_ipvs.timeouts as set in the inventory ({"tcp": 900}); the ones not set are not checked."""
    return {key: value for key, value in cluster.ipvs.timeouts.model_dump().items() if value is not None}


def director_modules(cluster: Cluster) -> list[str]:
    """ip_vs, and one ip_vs_<scheduler> per scheduler in use."""
    return ["ip_vs", *sorted({f"ip_vs_{s.scheduler}" for s in cluster.services})]


# ---- FULLNAT's source NAT (docs/inventory.md "FULLNAT") ------------------------------------------------------

FULLNAT_CHAIN = "LVSDEPLOY-FULLNAT"   # lvsdeploy's own chain of the nat table, jumped to from POSTROUTING


@dataclass(frozen=True)
class SourceNat:
    vip: str
    port: int
    protocol: str
    to: str     # the director's DIP


def source_nat(cluster: Cluster, director: Host) -> list[SourceNat]:
    """What each fullnat service needs on `director`: its clients' connections leave with the DIP as source."""
    return [SourceNat(str(s.vip), s.port, s.protocol, str(director.dip.ip))
            for s in cluster.services if s.mode == "fullnat" and director.dip is not None]


# ---- fwmark services' marks (docs/inventory.md "fwmark services") --------------------------------------------

FWMARK_CHAIN = "LVSDEPLOY-FWMARK"   # lvsdeploy's own chain of the mangle table, jumped to from PREROUTING


@dataclass(frozen=True)
class Mark:
    vip: str
    protocol: str
    ports: tuple[int, ...]
    mark: int


def marks(cluster: Cluster) -> list[Mark]:
    """The marks every director sets: packets to a service's VIP and fwmark_ports carry its fwmark."""
    return [Mark(str(s.vip), s.protocol, tuple(s.fwmark_ports), s.fwmark) for s in cluster.services if s.fwmark_ports]


def director_vips(cluster: Cluster) -> list[str]:
    return cluster.vips()


# ---- director failover (docs/inventory.md "Director failover") ----------------------------------------------

# keepalived.conf directives every director needs with failover: a director without the VRRP instance never
# takes the VIPs over, one without the sync daemon loses the connections when it does
VRRP_DIRECTIVE = "vrrp_instance"
SYNC_DIRECTIVE = "lvs_sync_daemon"


def failover(cluster: Cluster) -> bool:
    """Two or more directors share the VIPs: keepalived's VRRP holds them on the master only (lvs_failover only
    tunes it)."""
    return len(cluster.directors()) > 1


def failover_settings(cluster: Cluster) -> Failover:
    return cluster.failover if cluster.failover is not None else Failover()


def floating_addresses(cluster: Cluster) -> list[str]:
    """What the master holds and a backup must not: the VIPs, then (NAT) lvs_failover.gateway's address."""
    found = director_vips(cluster)
    gateway = failover_settings(cluster).gateway
    if failover(cluster) and gateway is not None:
        found.append(str(gateway.ip))
    return found


def vrrp_directives(cluster: Cluster) -> list[str]:
    """The keepalived.conf directives each director must have (none without failover)."""
    if not failover(cluster):
        return []
    settings = failover_settings(cluster)
    wanted = [VRRP_DIRECTIVE, f"virtual_router_id {settings.virtual_router_id}"]
    return wanted + [SYNC_DIRECTIVE] if settings.sync_daemon else wanted


# ---- the IPVS table, one readable row per virtual service and per destination ------------------------------

# Rows are strings so that a difference reads as what to fix:
#   "TCP 10.20.0.10:80 rr"                                a virtual service and its scheduling
#   "TCP 10.20.0.10:80 -> 10.20.0.11:80 route weight 1"   one destination


def service_label(protocol: str, vip: str | None, port: int | None, fwmark: int | None) -> str:
    if fwmark is not None:
        return f"FWM {fwmark}"
    return f"{protocol.upper()} {vip}:{port}"


def service_row(label: str, scheduler: str, persistence: int | None, netmask: str | None,
                flags: tuple[str, ...] = ()) -> str:
    row = f"{label} {scheduler}" + (f" ({','.join(sorted(flags))})" if flags else "")
    if persistence is not None:
        row += f" persistent {persistence}"
        if netmask not in (None, "255.255.255.255"):   # a /32 mask is ipvsadm's default and is not printed
            row += f" mask {netmask}"
    return row


def destination_row(label: str, ip: str, port: int, method: str, weight: int) -> str:
    return f"{label} -> {ip}:{port} {method} weight {weight}"


@dataclass(frozen=True)
class Destination:
    """One real server of one service, as the table must list it."""

    label: str      # the service's label
    host: str       # the real server's inventory name
    ip: str
    port: int
    method: str
    weight: int

    def row(self, weight: int | None = None) -> str:
        return destination_row(self.label, self.ip, self.port, self.method,
                               self.weight if weight is None else weight)


def service_rows(cluster: Cluster):
    """(service, its label, its row, its destinations) for each service of lvs_virtual_services."""
    for svc in cluster.services:
        label = service_label(svc.protocol, str(svc.vip) if svc.vip else None, svc.port, svc.fwmark)
        netmask = str(svc.persistence_netmask) if svc.persistence_netmask else None
        destinations = [Destination(label, rs.host, str(rip_of(cluster, rs.host)), rs.port, MODES[svc.mode].method,
                                    rs.weight) for rs in svc.realservers]
        row = service_row(label, svc.scheduler, svc.persistence, netmask, tuple(svc.scheduler_flags))
        yield svc, label, row, destinations


def ipvs_rows(cluster: Cluster) -> set[str]:
    """The IPVS table the inventory asks for, straight from lvs_virtual_services."""
    return {row for _, _, service, dests in service_rows(cluster) for row in (service, *(d.row() for d in dests))}


def thresholds(cluster: Cluster) -> dict[tuple[str, str], tuple[int, int]]:
    """{(service label, "RIP:port"): (upper, lower)} for each real server with a connection threshold (ipvsadm
    -x/-y; lower 0: none, the kernel then uses 3/4 of the upper)."""
    return {(label, f"{d.ip}:{d.port}"): (rs.upper_threshold, rs.lower_threshold or 0)
            for svc, label, _, dests in service_rows(cluster) for rs, d in zip(svc.realservers, dests)
            if rs.upper_threshold}


def rip_of(cluster: Cluster, host: str):
    return cluster.hosts[host].rip.ip


# ---- real servers --------------------------------------------------------------------------------------------


def realserver_modes(cluster: Cluster, host: Host) -> set[str]:
    return {s.mode for s in cluster.services_for(host.name)}


def realserver_sysctls(modes) -> dict[str, str]:
    """ARP suppression and rp_filter for a real server taking part in services of these modes."""
    wanted: dict[str, str] = {}
    for mode in sorted(modes):
        rule = MODES[mode]
        for iface in rule.arp_suppressed_on:
            wanted.update({f"net.ipv4.conf.{iface}.{key}": value for key, value in ARP_SUPPRESSION.items()})
        for iface in rule.rp_filter_off_on:
            wanted[f"net.ipv4.conf.{iface}.rp_filter"] = "0"
    return wanted


def realserver_modules(modes) -> list[str]:
    return sorted({m for mode in modes for m in MODES[mode].realserver_modules})


def realserver_vips(cluster: Cluster, host: Host) -> dict[str, list[str]]:
    """device -> the VIPs a real server must hold there as /32 ({"lo": [...]} for DR, {"tunl0": [...]} for TUN)."""
    held: dict[str, set[str]] = {}
    for svc in cluster.services_for(host.name):
        device = MODES[svc.mode].vip_device
        if device and svc.vip:
            held.setdefault(device, set()).add(str(svc.vip))
    return {device: sorted(vips) for device, vips in held.items()}


def nat_gateway(cluster: Cluster, host: Host) -> str | None:
    """Where a real server in a NAT service routes its replies: the director's DIP, or with failover
    lvs_failover.gateway's address (it moves with the VIPs; a DIP would lose the replies on a takeover).
    None when the real server takes part in no NAT service."""
    if not any(MODES[m].route_via_dip for m in realserver_modes(cluster, host)):
        return None
    if failover(cluster):
        gateway = failover_settings(cluster).gateway
        return str(gateway.ip) if gateway is not None else None
    directors = cluster.directors()
    return str(directors[0].dip.ip) if directors else None


def listening_ports(cluster: Cluster, host: Host) -> list[tuple[str, int]]:
    """(protocol, port) a real server must listen on: each service's port for this real server."""
    ports = {(svc.protocol, rs.port) for svc in cluster.services_for(host.name)
             for rs in svc.realservers if rs.host == host.name and rs.port}
    return sorted(ports)


# ---- shared storage ------------------------------------------------------------------------------------------

# Mount options lvsdeploy adds when the inventory leaves them out, so a share survives a boot on its own.
NETWORK_MOUNT_OPTION = "_netdev"
RETRY_OPTION = "bg"
RETRY_CHOICES = ("bg", "fg", "x-systemd.automount")   # any of them: the inventory already chose how to retry
SHARE_FSTYPE = {"nfs": "nfs"}


@dataclass(frozen=True)
class Export:
    path: str
    clients: frozenset[str]        # "10.20.0.11/32", one per client address
    options: frozenset[str]


@dataclass(frozen=True)
class ShareMount:
    src: str                       # "10.20.0.20:/srv/lvs/content"
    path: str
    fstype: str
    opts: str                      # as the fstab line must say them


def client_address(host: Host):
    """The address a share is exported to: a real server's RIP; else its DIP, client or storage address."""
    for iface in (host.rip, host.dip, host.client_ip, host.storage_ip):
        if iface is not None:
            return iface.ip
    return None


def share_export(cluster: Cluster, share: Share) -> Export:
    addresses = {client_address(cluster.hosts[c]) for c in share.clients or [] if c in cluster.hosts}
    return Export(path=posixpath.normpath(share.export),
                  clients=frozenset(f"{a}/32" for a in addresses if a is not None),
                  options=frozenset(share.options.export.split(",")))


def mounting_clients(cluster: Cluster, share: Share) -> list[str]:
    """The share's clients that mount it: its real servers (other clients are only exported to)."""
    return [c for c in share.clients or [] if c in cluster.hosts and cluster.hosts[c].is_realserver]


def mount_options(share: Share) -> str:
    options = share.options.mount.split(",")
    names = {o.partition("=")[0] for o in options}
    if NETWORK_MOUNT_OPTION not in names:
        options.append(NETWORK_MOUNT_OPTION)
    if not names & set(RETRY_CHOICES):
        options.append(RETRY_OPTION)
    return ",".join(options)


def share_mount(cluster: Cluster, share: Share) -> ShareMount:
    if share.type in BLOCK_TYPES:
        return block_mount(cluster, share)
    server = cluster.hosts[share.server]
    export = posixpath.normpath(share.export)
    return ShareMount(src=f"{server.storage_ip.ip}:{export}", path=posixpath.normpath(share.mount),
                      fstype=SHARE_FSTYPE[share.type], opts=mount_options(share))


# ---- gfs2/ocfs2 shares: an iSCSI LUN per share, a cluster stack on the clients (README "Shared storage") ------

BLOCK_TYPES = ("gfs2", "ocfs2")
ISCSI_PORT = 3260
TARGET_SAVED = "/etc/rtslib-fb-target/saveconfig.json"
TARGET_UNIT = "rtslib-fb-targetctl.service"          # restores the saved targets at boot
INITIATOR_FILE = "/etc/iscsi/initiatorname.iscsi"
INITIATOR_UNIT = "open-iscsi.service"                # logs in to node.startup=automatic records at boot
BLOCK_MOUNT_OPTIONS = "rw,noatime,_netdev"           # when the inventory names none
STACK_UNITS = {"gfs2": ("corosync.service", "dlm.service"), "ocfs2": ("o2cb.service",)}


@dataclass(frozen=True)
class BlockTarget:
    iqn: str
    portal: str                    # "10.20.0.5:3260"
    device: str                    # on the storage node
    initiators: frozenset[str]     # the ACL: the clients' initiator names, nobody else


def iqn(cluster: Cluster, *parts: str) -> str:
    """PREFIX:part.part, lowercase, '_' as '-' (IQNs take no '_')."""
    return f"{cluster.storage_cluster.iqn_prefix}:" + ".".join(p.lower().replace("_", "-") for p in parts)


def block_target(cluster: Cluster, share: Share) -> BlockTarget:
    server = cluster.hosts[share.server]
    return BlockTarget(iqn=iqn(cluster, share.server, share.name), portal=f"{server.storage_ip.ip}:{ISCSI_PORT}",
                       device=share.device,
                       initiators=frozenset(iqn(cluster, c) for c in share.clients or [] if c in cluster.hosts))


def lock_table(cluster: Cluster, share: Share) -> str:
    return f"{cluster.storage_cluster.name}:{share.name}"


def block_mount(cluster: Cluster, share: Share) -> ShareMount:
    target = block_target(cluster, share)
    chosen = "mount" in share.options.model_fields_set
    options = (share.options.mount if chosen else BLOCK_MOUNT_OPTIONS).split(",")
    for needed in (NETWORK_MOUNT_OPTION, f"x-systemd.requires={STACK_UNITS[share.type][-1]}"):
        if needed not in options:
            options.append(needed)
    return ShareMount(src=f"/dev/disk/by-path/ip-{target.portal}-iscsi-{target.iqn}-lun-0",
                      path=posixpath.normpath(share.mount), fstype=share.type, opts=",".join(options))
