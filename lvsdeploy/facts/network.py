"""Addresses, links and IPv4 routes, from iproute2's JSON output (`ip -j`, iproute2 >= 4.14).

Addresses and link details come from two commands (`ip -j addr` has no linkinfo, `ip -j -d link` has no
addresses) and are joined on the interface name. A missing `ip` prints an empty list rather than failing the
whole facts run.
"""

from __future__ import annotations

import json
from ipaddress import IPv4Interface, IPv4Network

from lvsdeploy.facts import Interface, Route

# `-d` puts each link's details (its kind: ipip, dummy, ...) beside its addresses: one `ip` for both
ADDR_SNIPPET = "ip -j -d addr show 2>/dev/null || echo '[]'"
ROUTE_SNIPPET = "ip -j -4 route show table main 2>/dev/null || echo '[]'"


def _json_list(text: str) -> list[dict]:
    text = text.strip()
    return json.loads(text) if text else []


def _mac(address: str | None) -> str | None:
    # ipip devices report their (empty) tunnel endpoint "0.0.0.0" in the same field as a MAC address.
    return address if address and ":" in address else None


def parse_interfaces(addr_text: str) -> dict[str, Interface]:
    """`ip -j -d addr`: each entry holds a link's addresses and, in its linkinfo, its kind."""
    interfaces: dict[str, Interface] = {}
    for entry in _json_list(addr_text):
        name = entry.get("ifname")
        if not name:
            continue
        addresses = [
            IPv4Interface(f"{a['local']}/{a['prefixlen']}")
            for a in entry.get("addr_info", [])
            if a.get("family") == "inet" and "local" in a
        ]
        interfaces[name] = Interface(
            name=name,
            mac=_mac(entry.get("address")),
            up="UP" in entry.get("flags", []),
            kind=(entry.get("linkinfo") or {}).get("info_kind"),
            addresses=addresses,
        )
    return interfaces


def normalise_dst(dst: str) -> str:
    """"default" stays; "0.0.0.0/0" becomes "default"; a bare host "10.0.0.5" becomes "10.0.0.5/32"."""
    if dst == "default":
        return dst
    network = IPv4Network(dst, strict=False)
    return "default" if network.prefixlen == 0 else str(network)


def parse_routes(text: str) -> list[Route]:
    routes = []
    for entry in _json_list(text):
        if "dst" not in entry:
            continue
        routes.append(
            Route(
                dst=normalise_dst(entry["dst"]),
                gateway=entry.get("gateway"),
                dev=entry.get("dev"),
                metric=entry.get("metric"),
                type=entry.get("type", "unicast"),
            )
        )
    return routes
