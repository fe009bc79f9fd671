"""What a host looks like right now, as plain data.

Each reader module in this package owns one kind of state: a shell snippet that prints it and a parser that
turns the printed text into the dataclasses below. `gather.py` puts all snippets into ONE remote command and
parses its output into a `HostFacts`. Nothing here talks to a host; nothing here changes one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from ipaddress import IPv4Interface


@dataclass
class Interface:
    name: str
    mac: str | None  # None for devices without an Ethernet-style address (ipip: "0.0.0.0")
    up: bool  # administratively up ("UP" in the link flags)
    kind: str | None  # linkinfo info_kind ("dummy", "ipip", "vlan", ...); None for plain NICs and lo
    addresses: list[IPv4Interface] = field(default_factory=list)


@dataclass
class Route:
    dst: str  # "default" or a CIDR; a host route "10.0.0.5" is normalised to "10.0.0.5/32"
    gateway: str | None
    dev: str | None
    metric: int | None = None
    type: str = "unicast"  # "blackhole", "unreachable", ... for the other route types


@dataclass
class FileFact:
    exists: bool
    content: bytes | None = None  # None when absent, not a regular file, or unreadable
    mode: str | None = None  # "0644"
    owner: str | None = None
    group: str | None = None
    kind: str | None = None  # "file", "directory", "other" (device, socket, ...), or None when absent


@dataclass
class UnitFact:
    load_state: str  # "loaded", "not-found", "masked", ...
    # UnitFileState ("enabled", "disabled", "static", "masked", ...; "" when unknown), or for a unit made from a
    # SysV script what `systemctl is-enabled` says
    enabled: str
    active: str  # ActiveState: "active", "inactive", "failed", ...


@dataclass(frozen=True)
class IpvsDest:
    ip: str
    port: int
    weight: int
    method: str  # "route" | "masq" | "tunnel"
    upper: int = 0   # connection thresholds (ipvsadm -x/-y); 0: none
    lower: int = 0


@dataclass
class IpvsService:
    protocol: str  # "TCP" | "UDP" | "SCTP" | "FWM" (firewall-mark services have no address)
    vip: str | None
    port: int | None
    fwmark: int | None
    scheduler: str
    persistence: int | None = None  # seconds; None = not persistent
    netmask: str | None = None  # persistence granularity, dotted; None = 255.255.255.255
    destinations: list[IpvsDest] = field(default_factory=list)
    flags: tuple[str, ...] = ()  # scheduler flags (ipvsadm -b), sorted: ("sh-fallback", "sh-port")

    @property
    def key(self) -> tuple:
        """Identity of a virtual service in the kernel: what `ipvsadm -E/-D` address it by."""
        if self.fwmark is not None:
            return ("FWM", self.fwmark)
        return (self.protocol, self.vip, self.port)

    @property
    def label(self) -> str:
        if self.fwmark is not None:
            return f"FWM {self.fwmark}"
        return f"{self.protocol} {self.vip}:{self.port}"


@dataclass
class IpvsTable:
    services: list[IpvsService] = field(default_factory=list)
    text: str | None = None   # `ipvsadm -Sn` as read: the apply script's guard hashes lvsdeploy's rows of it
    # `ipvsadm -Ln --thresholds` as read ("" when it was not): a second guard hashes the thresholds, which -Sn omits
    thresholds_text: str = ""


@dataclass
class Mount:
    src: str
    path: str
    fstype: str
    opts: str


def _iscsi():
    from lvsdeploy.facts import iscsi   # facts.iscsi imports nothing from here; late only to keep this file first
    return iscsi


def _netfilter():
    from lvsdeploy.facts import netfilter   # same as _iscsi
    return netfilter


@dataclass
class HostFacts:
    hostname: str = ""
    kernel_release: str = ""
    interfaces: dict[str, Interface] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    modules_loaded: set[str] = field(default_factory=set)  # loaded + builtin, '-' normalised to '_'
    sysctls: dict[str, str | None] = field(default_factory=dict)  # None = no such key now
    files: dict[str, FileFact] = field(default_factory=dict)
    packages: dict[str, str | None] = field(default_factory=dict)  # name -> installed version, None = not installed
    units: dict[str, UnitFact] = field(default_factory=dict)
    ipvs: IpvsTable | None = None  # None: ip_vs not loaded, or ipvsadm missing (see notes)
    mounts: list[Mount] = field(default_factory=list)
    devices: dict = field(default_factory=dict)       # path -> blockdev.BlockDevice, for the paths asked for
    iscsi_targets: Any = field(default_factory=lambda: _iscsi().IscsiTargets())          # LIO, from configfs
    iscsi_initiator: Any = field(default_factory=lambda: _iscsi().IscsiInitiator())      # open-iscsi records, sessions
    snat: Any = field(default_factory=lambda: _netfilter().ChainFacts())     # lvsdeploy's FULLNAT chain
    fwmark: Any = field(default_factory=lambda: _netfilter().ChainFacts())   # its chain marking fwmark services
    ipvs_timeouts: dict[str, int] | None = None   # {"tcp": 900, "tcpfin": 120, "udp": 300}; None: ip_vs not loaded
    notes: list[str] = field(default_factory=list)  # things the reader could not see, said plainly

    def interface_with(self, ip) -> list[tuple[Interface, IPv4Interface]]:
        """Every (interface, address) pair holding exactly this IP, on any device including lo."""
        return [(i, a) for i in self.interfaces.values() for a in i.addresses if a.ip == ip]
