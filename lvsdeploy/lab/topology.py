"""The lab topologies: which VMs, on which segments, with which base addresses.

Base addresses are what a freshly racked host would have (its RIP, DIP, a client address, routes to other
subnets). Everything LVS adds on top (VIPs, gateways via the DIP, tunnels, IPVS) is left to lvsdeploy.
Each topology shows its mode's defining property:
  nat  real servers live on a private segment only; the client cannot reach them directly
  dr   client, director and real servers share one L2 segment
  tun  real servers live on another subnet than the director, reached through a router
"""

from dataclasses import dataclass, field, replace

TOPOLOGIES = ("nat", "dr", "tun")
STORAGE_DISK = "lvs-lun0"
STORAGE_DISK_SIZE = "2G"


@dataclass
class VmSpec:
    name: str
    group: str                                   # inventory group: directors, realservers, storage, clients, lab_routers
    nics: list[tuple[str, str]]                  # (segment, address/prefix)
    routes: list[str] = field(default_factory=list)   # "10.30.2.0/24 via 10.30.1.1"
    forward: bool = False                        # a router of the lab (not an LVS director)
    http: bool = False                           # serves /whoami on port 80
    host_vars: dict = field(default_factory=dict)
    disks: list[tuple[str, str]] = field(default_factory=list)   # extra blank disks: (serial, size like "1G")


@dataclass
class Topology:
    mode: str
    segments: list[str]
    vip: str
    vms: list[VmSpec]

    def vm(self, name: str) -> VmSpec:
        return next(v for v in self.vms if v.name == name)


def build(mode: str, realservers: int = 2, storage: bool = True, directors: int = 1) -> Topology:
    if mode not in TOPOLOGIES:
        raise ValueError(f"unknown topology {mode!r}; choose one of {', '.join(TOPOLOGIES)}")
    if not 1 <= realservers <= 50:
        raise ValueError("--realservers must be between 1 and 50")
    if directors not in (1, 2) or (directors == 2 and mode == "tun"):
        raise ValueError("--directors must be 1, or 2 for the dr and nat topologies")
    topo = {"nat": _nat, "dr": _dr, "tun": _tun}[mode](realservers, storage)
    if directors == 2:
        # the second director: the first one's segments, the next address on each (DIP: .3 on dr, .2 on nat)
        first = topo.vm("director1")
        nics = [(segment, _next_address(address)) for segment, address in first.nics]
        dip = _next_address(first.host_vars["lvs_dip"])
        second = VmSpec("director2", "directors", nics, routes=list(first.routes), host_vars={"lvs_dip": dip})
        topo.vms.insert(topo.vms.index(first) + 1, second)
    return topo


def _next_address(cidr: str) -> str:
    address, prefix = cidr.split("/")
    head, last = address.rsplit(".", 1)
    return f"{head}.{int(last) + 1}/{prefix}"


def _realservers(segment: str, net: str, count: int, routes: list[str]) -> list[VmSpec]:
    return [
        VmSpec(f"rs{i}", "realservers", [(segment, f"{net}.{10 + i}/24")], routes=list(routes), http=True,
               host_vars={"lvs_rip": f"{net}.{10 + i}/24"})
        for i in range(1, count + 1)
    ]


def _storage(segment: str, net: str, enabled: bool) -> list[VmSpec]:
    if not enabled:
        return []
    # a blank disk besides the root: the block device a cluster filesystem's iSCSI LUN exports
    # (/dev/disk/by-id/virtio-STORAGE_DISK in the guest; sparse, so it costs nothing until written)
    return [VmSpec("storage1", "storage", [(segment, f"{net}.5/24")], host_vars={"lvs_storage_ip": f"{net}.5/24"},
                   disks=[(STORAGE_DISK, STORAGE_DISK_SIZE)])]


def _client(segment: str, net: str, routes: list[str] | None = None) -> VmSpec:
    return VmSpec("client", "clients", [(segment, f"{net}.100/24")], routes=routes or [],
                  host_vars={"lvs_client_ip": f"{net}.100/24"})


def _nat(count: int, storage: bool) -> Topology:
    director = VmSpec("director1", "directors", [("public", "192.168.100.2/24"), ("private", "10.10.0.1/24")],
                      host_vars={"lvs_dip": "10.10.0.1/24"})
    return Topology("nat", ["public", "private"], "192.168.100.10",
                    [_client("public", "192.168.100"), director, *_realservers("private", "10.10.0", count, []),
                     *_storage("private", "10.10.0", storage)])


def _dr(count: int, storage: bool) -> Topology:
    director = VmSpec("director1", "directors", [("lan", "10.20.0.2/24")], host_vars={"lvs_dip": "10.20.0.2/24"})
    return Topology("dr", ["lan"], "10.20.0.10",
                    [_client("lan", "10.20.0"), director, *_realservers("lan", "10.20.0", count, []),
                     *_storage("lan", "10.20.0", storage)])


def _tun(count: int, storage: bool) -> Topology:
    router = VmSpec("router1", "lab_routers", [("front", "10.30.1.1/24"), ("back", "10.30.2.1/24")], forward=True)
    director = VmSpec("director1", "directors", [("front", "10.30.1.2/24")],
                      routes=["10.30.2.0/24 via 10.30.1.1"], host_vars={"lvs_dip": "10.30.1.2/24"})
    back_routes = ["10.30.1.0/24 via 10.30.2.1"]
    return Topology("tun", ["front", "back"], "10.30.1.10",
                    [_client("front", "10.30.1"), router, director,
                     *_realservers("back", "10.30.2", count, back_routes),
                     *[replace(s, routes=back_routes) for s in _storage("back", "10.30.2", storage)]])
