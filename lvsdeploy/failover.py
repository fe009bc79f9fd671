"""Director failover: two or more directors share the VIPs by keepalived's VRRP; the IPVS sync daemon copies
each connection to the backups, so a takeover keeps established connections.

keepalived does everything that follows the VRRP state: it adds the VIPs (and, for NAT, the real servers'
floating gateway) on the master and removes them on a backup, sends gratuitous ARP on takeover, and runs the
sync daemon as master or backup. lvsdeploy writes its configuration (roles/director/templates/keepalived.conf.j2)
and sets what does not follow the state: the DIPs, sysctls, the IPVS table's health checks.

Every director starts as BACKUP and the highest priority wins: a director that boots never takes the VIPs before
it has heard the others (and, with preempt_delay, before it has had time to sync). Pure: the model in, data out.
"""

from __future__ import annotations

from .checkers import KEEPALIVED_CONF
from .model import Cluster, Failover, Host

# keepalived's own default priority is 100; the first director (by name) gets more, so it is the master
FIRST_PRIORITY, NEXT_PRIORITY = 150, 100
INSTANCE = "VI_LVS"
# "@lvsdeploy-device-of:ADDRESS@": the interface of ADDRESS's network on the host, filled in at plan time from
# its facts (modules/file.py `devices`), as lvsdeploy finds the DIP's and the VIPs' interfaces elsewhere
DEVICE_TOKEN = "@lvsdeploy-device-of:{}@"


def enabled(cluster: Cluster) -> bool:
    """Failover is on when the inventory has two or more directors; lvs_failover only tunes it."""
    return len(cluster.directors()) > 1


def settings(cluster: Cluster) -> Failover:
    """lvs_failover, or its defaults when the inventory leaves it out."""
    return cluster.failover if cluster.failover is not None else Failover()


def priorities(cluster: Cluster) -> dict[str, int]:
    """Each director's VRRP priority: lvs_vrrp_priority, else 150 for the first director by name, 100, 99, ...
    for the others (validate keeps them distinct)."""
    result = {}
    for i, director in enumerate(cluster.directors()):
        default = FIRST_PRIORITY if i == 0 else NEXT_PRIORITY - (i - 1)
        result[director.name] = director.vrrp_priority if director.vrrp_priority is not None else default
    return result


def device(explicit: str | None, address) -> str:
    """The interface name for the template: the inventory's, else a token the file module resolves."""
    return explicit or DEVICE_TOKEN.format(address)


def vrrp_vars(cluster: Cluster, host: Host) -> dict:
    """The VRRP instance and sync daemon of one director, as keepalived.conf.j2 needs them."""
    failover = settings(cluster)
    dip_device = device(failover.interface or host.dip_interface, host.dip.ip)
    vips = cluster.vips()
    # keepalived tracks the interface of each of these itself: a master that loses one gives them all up
    addresses = [{"address": f"{vip}/32", "dev": device(host.vip_interface, vip)} for vip in vips]
    if failover.gateway is not None:
        addresses.append({"address": str(failover.gateway), "dev": dip_device})
    return {
        "instance": INSTANCE,
        "interface": dip_device,
        "virtual_router_id": failover.virtual_router_id,
        "priority": priorities(cluster)[host.name],
        "advert_int": f"{failover.advert_int:g}",
        "preempt": failover.preempt,
        "preempt_delay": failover.preempt_delay,
        "unicast": failover.unicast,
        "unicast_src_ip": str(host.dip.ip),
        "unicast_peers": [str(d.dip.ip) for d in cluster.directors() if d.name != host.name],
        "addresses": addresses,
        "sync_daemon": failover.sync_daemon,
        "sync_interface": device(failover.sync_interface or failover.interface or host.dip_interface,
                                 host.dip.ip),
        "sync_id": failover.sync_group_id,
    }


def floating_addresses(cluster: Cluster) -> list[str]:
    """The addresses that move with the master: the VIPs, and the NAT gateway."""
    found = cluster.vips()
    if enabled(cluster) and settings(cluster).gateway is not None:
        found.append(str(settings(cluster).gateway.ip))
    return found


def runs_vrrp(facts) -> bool:
    """Does this host's keepalived.conf (as its facts read it) have lvsdeploy's VRRP instance already?"""
    conf = facts.files.get(KEEPALIVED_CONF)
    return conf is not None and conf.exists and f"vrrp_instance {INSTANCE} ".encode() in (conf.content or b"")


def rolling_order(cluster: Cluster, holders: set[str], joining: set[str] = frozenset()) -> list[str]:
    """The order an apply changes the directors in, one at a time.

    Normally backups first (lowest priority first) and the director holding the VIPs now last; with no holder,
    the one that will be master (highest priority) last. But a holder that does not run VRRP yet (`joining`: a
    single director becoming a pair) goes first: started alone, the others would elect themselves while it still
    holds the VIPs, and two directors would answer for them. Started first, it is elected at once (keepalived
    starting clears the addresses and adds them back: about one election's outage), and the others join it; one
    with a higher priority then takes the VIPs over (after preempt_delay)."""
    prio = priorities(cluster)

    def key(name: str):
        rank = 0 if name in holders and name in joining else 2 if name in holders else 1
        return rank, prio[name], name
    return sorted(prio, key=key)
