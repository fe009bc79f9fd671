"""LVS's vocabulary, written once: the forwarding modes and what each asks of the hosts, the schedulers, the
protocols, and ipvsadm's switches for them.

Everyone imports from here: the model's choices, validate's mode rules, desired state, the ipvs module and
the IPVS facts reader. Adding a mode starts with one `ForwardingMode` entry below (see docs/design.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ForwardingMode:
    """One LVS forwarding mode, as the README's mode table states it."""

    name: str
    method: str                   # IPVS forwarding method of its real servers: masq | route | tunnel
    supported: bool               # False: in the schema, refused by validate as "planned"
    maps_ports: bool = False      # a real server may listen on another port than the service's
    vip_device: str | None = None  # where a real server holds the VIP (/32): lo (dr), tunl0 (tun), nowhere
    suppress_arp: bool = False    # real servers must never answer ARP for the VIP they hold
    ipip: bool = False            # real servers decapsulate IPIP: ipip module, tunl0 up, rp_filter relaxed
    gateway_via_dip: bool = False  # real servers' replies go back through the director: default route = DIP
    director_forwards: bool = False  # the director routes between its networks (net.ipv4.ip_forward=1)
    same_lan: str | None = None   # why real servers must be on the director's network (None: may be routed)
    snat_to_dip: bool = False     # the director rewrites the client's source to its DIP (netfilter, on IPVS conntrack)


MODES: dict[str, ForwardingMode] = {m.name: m for m in (
    ForwardingMode("nat", "masq", supported=True, maps_ports=True, gateway_via_dip=True, director_forwards=True,
                   same_lan="nat real servers must be on the director's network to use the DIP as default gateway"),
    ForwardingMode("dr", "route", supported=True, vip_device="lo", suppress_arp=True,
                   same_lan="dr real servers must be on the director's LAN"),
    ForwardingMode("tun", "tunnel", supported=True, vip_device="tunl0", suppress_arp=True, ipip=True),
    # FULLNAT on a stock kernel: IPVS masquerading plus source NAT of the forwarded packets to the DIP
    ForwardingMode("fullnat", "masq", supported=True, maps_ports=True, director_forwards=True, snat_to_dip=True),
)}
SUPPORTED_MODES = tuple(name for name, mode in MODES.items() if mode.supported)

# The kernel's schedulers as Debian bookworm's 6.1 kernel ships them (twos came with 6.2).
SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh")
# ipvsadm -b: the flags each scheduler takes (ipvsadm refuses another scheduler's: "incompatible scheduler flag");
# -port hashes the client's port too, -fallback picks another real server when the hashed one is unavailable
SCHEDULER_FLAGS = {"sh": ("sh-fallback", "sh-port"), "mh": ("mh-fallback", "mh-port")}
ALL_SCHEDULER_FLAGS = tuple(flag for flags in SCHEDULER_FLAGS.values() for flag in flags)
PROTOCOLS = ("tcp", "udp", "sctp")

# ipvsadm's switches: how a service is addressed, and each forwarding method
PROTOCOL_SWITCH = {"TCP": "-t", "UDP": "-u", "SCTP": "--sctp-service", "FWM": "-f"}
METHOD_SWITCH = {"route": "-g", "masq": "-m", "tunnel": "-i"}

# Health checkers: the daemon that owns a director's IPVS table and tests its real servers ("none": lvsdeploy
# sets the table with ipvsadm and nothing tests the real servers). See lvsdeploy/checkers.py.
CHECKERS = ("none", "keepalived", "ldirectord")
CHECK_TYPES = ("tcp", "http", "https", "misc", "none")
ON_FAILURE = ("remove", "quiescent")
# The check a service gets when the inventory names none: a TCP connect to the real server's port; UDP and
# SCTP have no check both daemons can run without knowing the application, so they are left unchecked.
DEFAULT_CHECK = {"tcp": "tcp", "udp": "none", "sctp": "none"}
