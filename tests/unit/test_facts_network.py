"""Interfaces and routes from `ip -j -d addr` (addresses and link kinds) and `ip -j -4 route` (iproute2 6.1
JSON)."""

from ipaddress import IPv4Interface
from pathlib import Path

from lvsdeploy.facts import Route
from lvsdeploy.facts.gather import split_sections
from lvsdeploy.facts.network import normalise_dst, parse_interfaces, parse_routes

FIXTURES = Path(__file__).parent / "fixtures" / "facts"


def sections(host):
    return split_sections((FIXTURES / f"{host}.facts").read_text())


def test_director_interfaces():
    s = sections("director")
    interfaces = parse_interfaces(s["addr"])
    ens3 = interfaces["ens3"]
    assert ens3.up and ens3.kind is None and ens3.mac == "52:54:00:20:00:02"
    # IPv6 addresses are not ours to manage; the VIP /32 sits beside the primary address.
    assert ens3.addresses == [IPv4Interface("10.20.0.2/24"), IPv4Interface("10.20.0.10/32")]
    assert interfaces["ens4"].up is False and interfaces["ens4"].addresses == []


def test_realserver_tunnel_and_dummy_kinds_come_from_linkinfo():
    s = sections("realserver")
    interfaces = parse_interfaces(s["addr"])
    assert interfaces["tunl0"].kind == "ipip" and interfaces["tunl0"].up
    assert interfaces["tunl0"].mac is None  # ipip reports "0.0.0.0" where a MAC would be
    assert interfaces["tunl0"].addresses == [IPv4Interface("10.20.0.10/32")]
    assert (interfaces["dummy0"].kind, interfaces["dummy0"].up) == ("dummy", False)


def test_routes_normalise_host_routes_and_keep_metric_and_type():
    assert parse_routes(sections("director")["route"]) == [
        Route("default", "10.20.0.1", "ens3", 1024),
        Route("10.20.0.0/24", None, "ens3", 1024),
        Route("10.20.0.1/32", None, "ens3", 1024),
    ]
    assert parse_routes(sections("realserver")["route"])[-1] == Route("192.0.2.0/24", None, None, None, "blackhole")


def test_empty_output_when_ip_is_missing():
    assert parse_interfaces("[]") == {} and parse_routes("") == []


def test_normalise_dst():
    assert [normalise_dst(d) for d in ("default", "0.0.0.0/0", "10.0.0.5", "10.1.0.0/16")] == [
        "default", "default", "10.0.0.5/32", "10.1.0.0/16",
    ]  # fmt: skip


def test_kinds_from_ip_d_addr_alone():
    addr = ('[{"ifname": "tunl0", "flags": ["NOARP", "UP"], "address": "0.0.0.0", "linkinfo": {"info_kind": "ipip"},'
            ' "addr_info": [{"family": "inet", "local": "192.0.2.10", "prefixlen": 32}]}]')
    tunnel = parse_interfaces(addr)["tunl0"]
    assert (tunnel.kind, tunnel.mac, tunnel.up, [str(a) for a in tunnel.addresses]) == ("ipip", None, True, ["192.0.2.10/32"])
