"""What a host must look like for the cluster: the variables roles see (`lvs_*`), computed from the typed
model and the mode table in lvs.py.

Structured values stay typed: the IPVS services are the same IpvsService objects the facts reader returns,
built once per host plan and handed to the ipvs module as they are. Roles stay free of mode logic beyond
`when:`.
"""

import posixpath

from . import block_storage, failover
from .checkers import director_checker_vars
from .facts import IpvsDest, IpvsService
from .lvs import MODES
from .model import Cluster, Host, Share, VirtualService


def host_vars(cluster: Cluster, host: Host) -> dict:
    """The variables roles see for `host`: its inventory vars plus the computed `lvs_*` values."""
    computed: dict = {
        "inventory_hostname": host.name, "group_names": sorted(host.groups),
        # the parsed addresses and interface names, so that no role splits or re-parses the raw text
        "lvs_dip": host.dip, "lvs_rip": host.rip, "lvs_dip_interface": host.dip_interface,
        "lvs_rip_interface": host.rip_interface, "lvs_vip_interface": host.vip_interface,
    }
    if host.is_director:
        computed.update(director_vars(cluster, host))
    if host.is_realserver:
        computed.update(realserver_vars(cluster, host))
        computed.update(share_mount_vars(cluster, host))
        computed.update(block_storage.client_vars(cluster, host))
    if host.is_storage:
        computed.update(storage_vars(cluster, host))
    return {**host.vars, **computed}


def ipvs_services(cluster: Cluster) -> list[IpvsService]:
    return [ipvs_service(cluster, svc) for svc in cluster.services]


def ipvs_service(cluster: Cluster, svc: VirtualService) -> IpvsService:
    """The kernel's view of one validated service (validate has checked ports, netmask and duplicates)."""
    mask = str(svc.persistence_netmask) if svc.persistence_netmask else None
    if svc.fwmark is not None:
        service = IpvsService("FWM", None, None, svc.fwmark, svc.scheduler, svc.persistence)
    else:
        service = IpvsService(svc.protocol.upper(), str(svc.vip), svc.port, None, svc.scheduler, svc.persistence)
    service.netmask = None if mask in (None, "255.255.255.255") else mask   # /32 is ipvsadm's default
    service.flags = tuple(sorted(svc.scheduler_flags))
    method = MODES[svc.mode].method
    service.destinations = [IpvsDest(str(cluster.hosts[rs.host].rip.ip), rs.port, rs.weight, method,
                                     rs.upper_threshold or 0, rs.lower_threshold or 0) for rs in svc.realservers]
    return service


def director_vars(cluster: Cluster, host: Host) -> dict:
    services = ipvs_services(cluster)
    snat = snat_rules(cluster, host)
    sysctls = {
        # Drop connections to a removed real server at once instead of black-holing them until timeout.
        "net.ipv4.vs.expire_nodest_conn": "1",
        # A persistence template pointing at a weight-0 (quiesced) server expires, so clients move on.
        "net.ipv4.vs.expire_quiescent_template": "1",
        # Connection tracking of IPVS traffic is only needed when netfilter rewrites it too (FULLNAT).
        "net.ipv4.vs.conntrack": "1" if snat else "0",
    }
    # the inventory's tuning (lvs_ipvs.sysctls) over lvsdeploy's defaults; conntrack is not among its keys
    sysctls.update(cluster.ipvs.sysctls.keys())
    if any(MODES[mode].director_forwards for mode in cluster.modes()):
        sysctls["net.ipv4.ip_forward"] = "1"
    vrrp = failover.vrrp_vars(cluster, host) if failover.enabled(cluster) else None
    if vrrp is not None:
        sysctls.update({
            # a backup must never answer ARP for an address the master holds on another of its links
            "net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "2",
            # both directors speak one sync protocol, whatever either kernel's default (0 before 2.6.39)
            "net.ipv4.vs.sync_version": "1",
        })
    return {
        # with failover keepalived holds the VIPs on the master only (lvs_vrrp); lvsdeploy never adds them
        "lvs_vips": cluster.vips() if vrrp is None else [],
        "lvs_vrrp": vrrp,
        # ip_vs loads schedulers on demand, but the boot-time module list wants their names
        "lvs_director_modules": ["ip_vs", *sorted({f"ip_vs_{s.scheduler}" for s in services})],
        "lvs_director_sysctls": sysctls,
        "lvs_ipvs_services": services,
        "lvs_snat_rules": snat,
        "lvs_fwmark_rules": fwmark_rules(cluster),
        "lvs_ipvs_timeouts": cluster.ipvs.timeouts.model_dump(),
        # this run's `lvsdeploy drain` / `undrain` (empty for plan and apply: the record on the director rules)
        "lvs_drain": cluster.drain_request[0], "lvs_undrain": cluster.drain_request[1],
        # who keeps these services in the table: lvsdeploy itself (ipvsadm), or the health checker's daemon
        "lvs_ipvs_owner": "lvsdeploy" if host.health_checker == "none" else host.health_checker,
        **director_checker_vars(cluster, host),
    }


def snat_rules(cluster: Cluster, host: Host) -> list[dict]:
    """FULLNAT: each service's client connections leave this director with its own DIP as their source (validate
    has refused fwmark services and two directors for it)."""
    if host.dip is None:
        return []
    return [{"vip": str(s.vip), "port": s.port, "protocol": s.protocol, "to": str(host.dip.ip)}
            for s in cluster.services if MODES[s.mode].snat_to_dip and s.fwmark is None]


def fwmark_rules(cluster: Cluster) -> list[dict]:
    """The marks of fwmark services that name their ports; every director marks (the VIP's master receives)."""
    return [{"vip": str(s.vip), "protocol": s.protocol, "ports": list(s.fwmark_ports), "mark": s.fwmark}
            for s in cluster.services if s.fwmark_ports]


def realserver_vars(cluster: Cluster, host: Host) -> dict:
    services = cluster.services_for(host.name)
    modes = [MODES[m] for m in sorted({s.mode for s in services})]
    ipip = any(m.ipip for m in modes)
    sysctls: dict[str, str] = {}
    if any(m.suppress_arp for m in modes):
        # Only the director may answer ARP for the VIP; the kernel uses max(all, interface).
        devices = ["all", "lo", *sorted({m.vip_device for m in modes if m.vip_device} - {"lo"})]
        for dev in devices:
            sysctls.update({f"net.ipv4.conf.{dev}.arp_ignore": "1", f"net.ipv4.conf.{dev}.arp_announce": "2"})
    if ipip:
        # Decapsulated packets arrive on tunl0 from a client routed elsewhere: strict rp_filter drops them.
        sysctls.update({"net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.tunl0.rp_filter": "0"})
    vips = sorted({(str(s.vip), MODES[s.mode].vip_device) for s in services if s.vip and MODES[s.mode].vip_device})
    gateway = nat_gateway(cluster) if any(m.gateway_via_dip for m in modes) else None
    return {
        "lvs_realserver_ipip": ipip,
        "lvs_realserver_sysctls": sysctls,
        "lvs_realserver_vips": [{"address": f"{vip}/32", "dev": dev} for vip, dev in vips],
        "lvs_nat_gateway": gateway,
    }


def nat_gateway(cluster: Cluster) -> str | None:
    """NAT real servers' default gateway: the director's DIP, or with failover the address that moves with the
    VIPs (lvs_failover.gateway)."""
    directors = cluster.directors()
    if failover.enabled(cluster):
        gateway = failover.settings(cluster).gateway
        return str(gateway.ip) if gateway is not None else None
    return str(directors[0].dip.ip) if directors else None


# ---- shared storage --------------------------------------------------------------------------------

# fstab type per share type (gfs2/ocfs2 mount the LUN, see block_storage.block_mount)
SHARE_FSTYPE = {"nfs": "nfs", "gfs2": "gfs2", "ocfs2": "ocfs2"}
# Mount options lvsdeploy adds when the inventory's leave them out, so a share survives a reboot on its own:
# _netdev orders the mount after the network; bg lets a real server that boots before its storage node finish
# booting (systemd turns it into a mount that retries without a time limit and does not hold up the boot).
NETWORK_MOUNT_OPTIONS = ("_netdev",)
RETRY_CHOICES = ("bg", "fg", "x-systemd.automount")   # any one of these means "the user chose how"


def share_client_address(host: Host):
    """The address a share client reaches its storage node from: its RIP (a real server), else its own."""
    for iface in (host.rip, host.dip, host.client_ip, host.storage_ip):
        if iface is not None:
            return iface.ip
    return None


def share_source(cluster: Cluster, share: Share) -> str:
    """What a client mounts: "10.20.0.5:/srv/lvs/content"."""
    return f"{cluster.hosts[share.server].storage_ip.ip}:{posixpath.normpath(share.export)}"


def mount_options(share: Share) -> str:
    opts = share.options.mount.split(",")
    keys = {o.partition("=")[0] for o in opts}
    opts += [o for o in NETWORK_MOUNT_OPTIONS if o not in keys]
    if not keys & set(RETRY_CHOICES):
        opts.append("bg")
    return ",".join(opts)


def share_mounts(cluster: Cluster, host: Host) -> list[dict]:
    """Arguments of the `mounts` module for a share client: one entry per share it mounts."""
    return [
        block_storage.block_mount(cluster, share) if share.is_block else
        {"src": share_source(cluster, share), "path": posixpath.normpath(share.mount),
         "fstype": SHARE_FSTYPE[share.type], "opts": mount_options(share)}
        for share in cluster.shares_for_client(host.name)
    ]


def share_mount_vars(cluster: Cluster, host: Host) -> dict:
    return {"lvs_share_mounts": share_mounts(cluster, host)}


def exports(cluster: Cluster, host: Host) -> list[dict]:
    """The NFS exports of a storage node: each share's directory to its clients' addresses, one /32 each
    (never a wildcard: a share with no client address is listed with no clients, and the template comments
    it out)."""
    result = []
    for share in cluster.shares_on_server(host.name):
        if share.is_block:
            continue
        addresses = [share_client_address(cluster.hosts[c]) for c in share.clients or [] if c in cluster.hosts]
        result.append({
            "name": share.name,
            "path": posixpath.normpath(share.export),
            "clients": [f"{a}/32" for a in dict.fromkeys(addresses) if a is not None],
            "options": share.options.export,
        })
    return result


def storage_vars(cluster: Cluster, host: Host) -> dict:
    return {"lvs_exports": exports(cluster, host), **block_storage.storage_vars(cluster, host)}
