"""The mode rules, in one place: what a host must look like for the virtual services it takes part in.

Roles read these values as variables (`lvs_*`); they stay free of mode logic beyond `when:`.
"""

from .model import Cluster, Host, VirtualService
from .modules.ipvs import scheduler_modules

# ipvsadm forwarding method per LVS mode (-m masquerading, -g gatewaying, -i ipip)
FORWARDING = {"nat": "masq", "dr": "route", "tun": "tunnel"}
DR_ARP = {"arp_ignore": "1", "arp_announce": "2"}


def host_vars(cluster: Cluster, host: Host) -> dict:
    """The variables roles see for `host`: its inventory vars plus the computed `lvs_*` values."""
    computed: dict = {"inventory_hostname": host.name, "group_names": sorted(host.groups)}
    if host.is_director:
        computed.update(director_vars(cluster, host))
    if host.is_realserver:
        computed.update(realserver_vars(cluster, host))
    # What the boot role persists: the union over the host's roles.
    computed["lvs_kernel_modules"] = computed.get("lvs_director_modules", []) + (
        ["ipip"] if "tun" in computed.get("lvs_realserver_modes", []) else [])
    computed["lvs_sysctls"] = {**computed.get("lvs_director_sysctls", {}), **computed.get("lvs_realserver_sysctls", {})}
    return {**host.vars, **computed}


def ipvs_services(cluster: Cluster) -> list[dict]:
    return [_ipvs_service(cluster, svc) for svc in cluster.services]


def _ipvs_service(cluster: Cluster, svc: VirtualService) -> dict:
    return {
        "protocol": svc.protocol, "vip": str(svc.vip) if svc.vip else None, "port": svc.port,
        "fwmark": svc.fwmark, "scheduler": svc.scheduler, "persistence": svc.persistence,
        "netmask": str(svc.persistence_netmask) if svc.persistence_netmask else None,
        "destinations": [
            {"ip": str(cluster.hosts[rs.host].rip.ip), "port": rs.port, "weight": rs.weight,
             "method": FORWARDING[svc.mode]}
            for rs in svc.realservers
        ],
    }


def director_vars(cluster: Cluster, host: Host) -> dict:
    services = ipvs_services(cluster)
    modes = cluster.modes()
    sysctls = {
        # Drop connections to a removed real server at once instead of black-holing them until timeout.
        "net.ipv4.vs.expire_nodest_conn": "1",
        # A persistence template pointing at a weight-0 (quiesced) server expires, so clients move on.
        "net.ipv4.vs.expire_quiescent_template": "1",
        # Connection tracking of IPVS traffic is only needed when netfilter rewrites it too (FULLNAT).
        "net.ipv4.vs.conntrack": "0",
    }
    if "nat" in modes:
        sysctls["net.ipv4.ip_forward"] = "1"
    return {
        "lvs_modes": sorted(modes),
        "lvs_vips": sorted({str(s.vip) for s in cluster.services if s.vip}),
        "lvs_director_modules": ["ip_vs", *scheduler_modules(services)],
        "lvs_director_sysctls": sysctls,
        "lvs_ipvs_services": services,
    }


def realserver_vars(cluster: Cluster, host: Host) -> dict:
    services = cluster.services_for(host.name)
    modes = {s.mode for s in services}
    vips = lambda mode: sorted({str(s.vip) for s in services if s.mode == mode and s.vip})  # noqa: E731
    sysctls: dict[str, str] = {}
    if modes & {"dr", "tun"}:
        # Only the director may answer ARP for the VIP; the kernel uses max(all, interface).
        for iface in ["all", "lo"] + (["tunl0"] if "tun" in modes else []):
            sysctls.update({f"net.ipv4.conf.{iface}.{k}": v for k, v in DR_ARP.items()})
    if "tun" in modes:
        # Decapsulated packets arrive on tunl0 from a client routed elsewhere: strict rp_filter drops them.
        sysctls.update({"net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.tunl0.rp_filter": "0"})
    directors = cluster.directors()
    gateway = str(directors[0].dip.ip) if "nat" in modes and directors else None
    return {
        "lvs_realserver_modes": sorted(modes),
        "lvs_realserver_sysctls": sysctls,
        "lvs_lo_vips": vips("dr"),
        "lvs_tunl0_vips": vips("tun"),
        "lvs_nat_gateway": gateway,
    }
