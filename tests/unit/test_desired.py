"""desired.py: the mode rules, read off the example inventories (director vars, real-server vars, IPVS services)."""

import functools
from ipaddress import IPv4Interface
from pathlib import Path

import pytest

from lvsdeploy.desired import director_vars, host_vars, ipvs_services, realserver_vars
from lvsdeploy.facts import IpvsDest, IpvsService
from lvsdeploy.facts.ipvs import parse_rules
from lvsdeploy.modules.ipvs import rules_lines
from lvsdeploy.inventory import load_cluster

REPO = Path(__file__).resolve().parents[2]
IPVS_SYSCTLS = {
    "net.ipv4.vs.expire_nodest_conn": "1",
    "net.ipv4.vs.expire_quiescent_template": "1",
    "net.ipv4.vs.conntrack": "0",
}
DR_ARP = {
    "net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "2",
    "net.ipv4.conf.lo.arp_ignore": "1", "net.ipv4.conf.lo.arp_announce": "2",
}


@functools.lru_cache
def cluster(mode: str):
    return load_cluster(REPO / "inventories" / "examples" / f"{mode}.yml")


def director(mode: str) -> dict:
    c = cluster(mode)
    return director_vars(c, c.hosts["director1"])


def realserver(mode: str, name: str = "rs1") -> dict:
    c = cluster(mode)
    return realserver_vars(c, c.hosts[name])


# ---- directors -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode,modules", [
    ("nat", ["ip_vs", "ip_vs_sh", "ip_vs_wlc"]),   # web: wlc, web-tls: sh
    ("dr", ["ip_vs", "ip_vs_rr", "ip_vs_wrr"]),    # web: rr, dns: wrr
    ("tun", ["ip_vs", "ip_vs_lc"]),
])
def test_director_modules_are_ip_vs_and_each_scheduler(mode, modules):
    assert director(mode)["lvs_director_modules"] == modules


def test_ip_forward_only_for_nat():
    assert director("nat")["lvs_director_sysctls"] == {**IPVS_SYSCTLS, "net.ipv4.ip_forward": "1"}
    assert director("dr")["lvs_director_sysctls"] == IPVS_SYSCTLS
    assert director("tun")["lvs_director_sysctls"] == IPVS_SYSCTLS


@pytest.mark.parametrize("mode,vip", [("nat", "192.168.100.10"), ("dr", "10.20.0.10"), ("tun", "10.30.1.10")])
def test_director_vips(mode, vip):
    assert director(mode)["lvs_vips"] == [vip]  # two services on one VIP: the VIP once


# ---- real servers --------------------------------------------------------------------------------------

def test_dr_realserver_arp_on_all_and_lo_and_vip_on_lo():
    rs = realserver("dr")
    assert rs == {
        "lvs_realserver_ipip": False,
        "lvs_realserver_sysctls": DR_ARP,
        "lvs_realserver_vips": [{"address": "10.20.0.10/32", "dev": "lo"}],
        "lvs_nat_gateway": None,
    }


def test_tun_realserver_ipip_tunl0_sysctls_rp_filter_and_vip_on_tunl0():
    rs = realserver("tun")
    assert rs["lvs_realserver_ipip"] is True
    assert rs["lvs_realserver_sysctls"] == {
        **DR_ARP,
        "net.ipv4.conf.tunl0.arp_ignore": "1", "net.ipv4.conf.tunl0.arp_announce": "2",
        # decapsulated packets come from clients routed elsewhere: strict reverse-path filtering drops them
        "net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.tunl0.rp_filter": "0",
    }
    assert rs["lvs_realserver_vips"] == [{"address": "10.30.1.10/32", "dev": "tunl0"}]
    assert rs["lvs_nat_gateway"] is None


def test_nat_realserver_routes_through_the_dip_and_changes_no_sysctl():
    rs = realserver("nat")
    assert rs["lvs_nat_gateway"] == "10.10.0.1"   # the director's DIP, without prefix
    assert rs["lvs_realserver_sysctls"] == {}
    assert rs["lvs_realserver_vips"] == [] and rs["lvs_realserver_ipip"] is False


def test_realserver_vars_are_the_same_for_both_realservers():
    for mode in ("nat", "dr", "tun"):
        assert realserver(mode, "rs1") == realserver(mode, "rs2")


# ---- IPVS services: typed, the same objects the facts reader returns -------------------------------------

def test_nat_services_masquerade_and_map_ports():
    web, tls = ipvs_services(cluster("nat"))
    assert web == IpvsService("TCP", "192.168.100.10", 80, None, "wlc", None, None, [
        IpvsDest("10.10.0.11", 8080, 1, "masq"), IpvsDest("10.10.0.12", 8080, 1, "masq")])
    assert (tls.port, tls.scheduler, tls.persistence) == (443, "sh", 600)
    assert [(d.port, d.method) for d in tls.destinations] == [(443, "masq"), (443, "masq")]


def test_dr_services_route_with_weights_per_service():
    web, dns = ipvs_services(cluster("dr"))
    assert web.destinations == [IpvsDest("10.20.0.11", 80, 1, "route"), IpvsDest("10.20.0.12", 80, 1, "route")]
    assert (dns.protocol, dns.port, dns.scheduler) == ("UDP", 53, "wrr")
    assert dns.destinations == [IpvsDest("10.20.0.11", 53, 2, "route"), IpvsDest("10.20.0.12", 53, 1, "route")]


def test_tun_service_tunnels_with_persistence_netmask():
    (web,) = ipvs_services(cluster("tun"))
    assert (web.scheduler, web.persistence, web.netmask) == ("lc", 300, "255.255.255.0")
    assert [(d.ip, d.port, d.method) for d in web.destinations] == [
        ("10.30.2.11", 80, "tunnel"), ("10.30.2.12", 80, "tunnel")]


def test_the_desired_table_compares_equal_to_the_table_read_back():
    # one shape for both sides: what `ipvsadm -Sn` prints after `ipvsadm -R` of the rules is the same objects
    services = ipvs_services(cluster("dr"))
    assert parse_rules("\n".join(rules_lines(services))).services == services


def test_director_gets_the_services():
    assert director("dr")["lvs_ipvs_services"] == ipvs_services(cluster("dr"))


# ---- host_vars -----------------------------------------------------------------------------------------

def test_host_vars_merge_inventory_vars_with_typed_computed_ones():
    c = cluster("nat")
    v = host_vars(c, c.hosts["director1"])
    assert v["inventory_hostname"] == "director1"
    assert "directors" in v["group_names"]
    assert v["lvs_dip_interface"] == "eth1" and v["lvs_vip_interface"] == "eth0"   # as written
    assert v["lvs_dip"] == IPv4Interface("10.10.0.1/24")                          # parsed, not the raw text
    assert "lvs_realserver_sysctls" not in v


def test_hosts_outside_directors_and_realservers_get_no_lvs_settings():
    c = cluster("dr")
    for name in ("storage1", "client1"):
        v = host_vars(c, c.hosts[name])
        assert "lvs_vips" not in v and "lvs_realserver_vips" not in v and "lvs_director_sysctls" not in v


# ---- FULLNAT: masquerading plus source NAT to the DIP on the director; nothing on the real servers ---------

def test_fullnat_director_forwards_tracks_ipvs_connections_and_rewrites_sources_to_its_dip():
    d = director("fullnat")
    assert d["lvs_director_sysctls"] == {**IPVS_SYSCTLS, "net.ipv4.vs.conntrack": "1", "net.ipv4.ip_forward": "1"}
    assert d["lvs_snat_rules"] == [
        {"vip": "192.168.100.10", "port": 80, "protocol": "tcp", "to": "10.10.0.1"},
        {"vip": "192.168.100.10", "port": 53, "protocol": "udp", "to": "10.10.0.1"}]
    assert all(dest.method == "masq" and dest.port == 8080 for dest in ipvs_services(cluster("fullnat"))[0].destinations)
    for mode in ("nat", "dr", "tun"):   # no rule, and the chain of an earlier fullnat removed
        assert director(mode)["lvs_snat_rules"] == []


def test_fullnat_realservers_need_no_gateway_vip_or_sysctl():
    for name in ("rs1", "rs2"):   # rs2 is routed, on another network
        assert realserver("fullnat", name) == {"lvs_realserver_ipip": False, "lvs_realserver_sysctls": {},
                                               "lvs_realserver_vips": [], "lvs_nat_gateway": None}
