"""The cluster as typed objects, built from the inventory by `lvsdeploy.inventory.load_cluster`.

The models double as the schema of `lvs_virtual_services` / `lvs_shared_storage` entries: every field
carries a `description` phrased as "what a valid value looks like", so that a validation error becomes
"must be <description>, got <value>" instead of a pydantic dump (see `explain`).
Objects built from a file remember where each of their keys was written (`origin`), so that rules in
`validate.py` can name the file and line to fix.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from .errors import Source, did_you_mean
from .lvs import ALL_SCHEDULER_FLAGS, CHECK_TYPES, CHECKERS, MODES, ON_FAILURE, PROTOCOLS, SCHEDULER_FLAGS, SCHEDULERS
from .ssh_options import SUPPORTED as SUPPORTED_SSH_ARGS
from .ssh_options import parse_ssh_args

# The choices come from lvs.py; an unsupported mode is in the schema so that validate says "planned".
Mode = Literal[tuple(MODES)]
Protocol = Literal[PROTOCOLS]
Scheduler = Literal[SCHEDULERS]
ShareType = Literal["nfs", "gfs2", "ocfs2"]
# cluster filesystems: the storage node exports a block device over iSCSI, every client mounts it directly
BLOCK_SHARE_TYPES = ("gfs2", "ocfs2")

DIRECTORS, REALSERVERS, STORAGE, CLIENTS = "directors", "realservers", "storage", "clients"
MANAGED_GROUPS = (DIRECTORS, REALSERVERS, STORAGE, CLIENTS)

DEFAULT_EXPORT_OPTIONS = "rw,sync,no_subtree_check,root_squash"
DEFAULT_MOUNT_OPTIONS = "rw,hard,vers=4.2,_netdev"


def _one_of(values: tuple[str, ...]) -> str:
    return "one of " + ", ".join(values)


def _text_only(value: Any) -> Any:
    # pydantic would turn an integer into an address (10 -> 0.0.0.10); in an inventory that is a typo
    if isinstance(value, (int, float, bool)):
        raise ValueError("not text")
    return value


def _cidr_only(value: Any) -> Any:
    # a bare address would silently become a /32 and break every "same network" rule
    if isinstance(value, str) and "/" not in value:
        raise ValueError("no prefix length")
    return _text_only(value)


Address = Annotated[IPv4Address, BeforeValidator(_text_only)]
Cidr = Annotated[IPv4Interface, BeforeValidator(_cidr_only)]
Port = Annotated[int, Field(strict=True, ge=1, le=65535)]
Weight = Annotated[int, Field(strict=True, ge=0, le=65535)]
Seconds = Annotated[int, Field(strict=True, ge=1, le=2147483647)]
# ipvsadm -x/-y take 0..INT_MAX; 0 means "no threshold", which is what leaving the key out says
Connections = Annotated[int, Field(strict=True, ge=1, le=2147483647)]
Fwmark = Annotated[int, Field(strict=True, ge=1, le=4294967295)]
MAX_FWMARK_PORTS = 15   # iptables' multiport match, which one marking rule uses
Name = Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
# Ansible's rules: a host name is a host name or address (an SSH config alias too); a group name and a variable
# name are identifiers. Nothing else can reach a file or a command as a new line or a new word.
HOST_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
GROUP_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
VARIABLE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
Interface = Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$")]
HostName = Annotated[str, Field(strict=True, pattern=HOST_NAME_PATTERN)]
# where SSH connects: a name, an alias of an ssh_config file or an address (IPv6 too); never an option
Destination = Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9_\[][A-Za-z0-9_.:%\[\]-]*$")]
Account = Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$")]
# a file on this machine: any printable text but '"' (it is double-quoted in the ssh_config verify writes)
LocalPath = Annotated[str, Field(strict=True, pattern=r'^[^\x00-\x1f\x7f"]+$')]
Options = Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9_.,=:/@+-]+$")]
# Health-check values end up inside keepalived.conf / ldirectord.cf, whose parsers know no escapes: nothing
# that could end a quoted word, start a comment or a new line, or a block ('"', '#', '!', '{', '}', newlines).
UrlPath = Annotated[str, Field(strict=True, pattern=r"^/[A-Za-z0-9_.~%/?&=+,;:@-]*$", max_length=512)]
CheckText = Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9_.,:;=@/ -]+$", max_length=256)]
VirtualHost = Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?$", max_length=255)]
Command = Annotated[str, Field(strict=True, pattern=r"^/[A-Za-z0-9_./-]+( [A-Za-z0-9_./:=@%+,-]+)*$",
                               max_length=512)]
CheckSeconds = Annotated[int, Field(strict=True, ge=1, le=3600)]

ADDRESS_TEXT = "an IPv4 address like 10.20.0.10"
CIDR_TEXT = "an IPv4 address with prefix length like 10.20.0.2/24"
PORT_TEXT = "an integer between 1 and 65535"
NAME_TEXT = "a name of letters, digits, '.', '_' or '-'"
INTERFACE_TEXT = "a network interface name like eth1 (at most 15 letters, digits, '_', '.' or '-')"
HOST_TEXT = "the name of a host of the inventory"


class SourceMap:
    """Where each key of an object was written: dotted paths like "realservers[1].weight" -> Source.

    `at(path)` falls back to the closest written parent, so a rule about a defaulted key still points at
    the entry that omitted it.
    """

    def __init__(self, entries: dict[str, Source] | None = None, default: Source | None = None):
        self.entries = dict(entries or {})
        self.default = default or Source("<unknown>")

    def at(self, path: str = "") -> Source:
        while path:
            if path in self.entries:
                return self.entries[path]
            path = path[: max(path.rfind("."), path.rfind("["), 0)]
        return self.entries.get("", self.default)


class _Located(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _origin: SourceMap = PrivateAttr(default_factory=SourceMap)

    @property
    def origin(self) -> SourceMap:
        return self._origin

    def located(self, origin: SourceMap) -> _Located:
        self._origin = origin
        return self

    def __eq__(self, other: object) -> bool:
        # where a value was written is not part of what it is: a loaded service equals a constructed one
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = None  # mutable, like BaseModel


class Connection(BaseModel):
    """How to reach a host, as OpenSSH and Ansible would: what the inventory leaves out comes from the
    ssh_config file (Host aliases, HostName, User, Port, IdentityFile, ProxyJump), then OpenSSH's defaults."""

    model_config = ConfigDict(extra="forbid")
    host: str
    port: int | None = None           # None: ssh_config's Port, else 22
    user: str | None = None           # None: ssh_config's User, else the local user
    key_file: Path | None = None      # None: ssh_config's IdentityFile, the agent and the default keys
    become: bool = False              # run commands through sudo -n
    known_hosts: Path | None = None   # None: ssh_config's UserKnownHostsFile, else ~/.ssh/known_hosts
    ssh_config: Path | None = None    # -F FILE of ansible_ssh_*_args; None: ~/.ssh/config
    proxy_jump: str | None = None     # -J / -o ProxyJump of ansible_ssh_*_args (wins over ssh_config)
    proxy_command: str | None = None  # -o ProxyCommand of ansible_ssh_*_args


class Host(_Located):
    """One inventory host. origin.at("") is where it was first listed; origin.at(var) where var was set."""

    name: str
    groups: frozenset[str]
    vars: dict[str, Any]          # every merged variable, raw as written (ansible_*, lvs_*, anything)
    connection: Connection
    dip: IPv4Interface | None = None
    rip: IPv4Interface | None = None
    storage_ip: IPv4Interface | None = None
    client_ip: IPv4Interface | None = None
    dip_interface: str | None = None
    rip_interface: str | None = None
    vip_interface: str | None = None
    health_checker: str = "none"    # lvs_health_checker: who owns this director's IPVS table (lvs.CHECKERS)
    vrrp_priority: int | None = None   # lvs_vrrp_priority; None: failover.priorities decides

    @property
    def is_director(self) -> bool:
        return DIRECTORS in self.groups

    @property
    def is_realserver(self) -> bool:
        return REALSERVERS in self.groups

    @property
    def is_storage(self) -> bool:
        return STORAGE in self.groups

    @property
    def is_client(self) -> bool:
        return CLIENTS in self.groups

    def addresses(self) -> dict[str, IPv4Interface]:
        """The lvsdeploy addresses set on this host, by variable name (for duplicate/subnet rules)."""
        pairs = {"lvs_dip": self.dip, "lvs_rip": self.rip, "lvs_storage_ip": self.storage_ip,
                 "lvs_client_ip": self.client_ip}
        return {var: ip for var, ip in pairs.items() if ip is not None}


class RealServerRef(_Located):
    SHAPE: ClassVar[str] = "a mapping like {host: rs1, weight: 1}"
    host: HostName = Field(description=HOST_TEXT)
    # None only until the service fills in its own port; 0 means "the client's destination port" and is
    # used for fwmark services without a port (IPVS keeps the port of each packet)
    port: Port | None = Field(None, description=PORT_TEXT)
    weight: Weight = Field(1, description="an integer between 0 and 65535")
    # IPVS stops sending new connections to a real server holding upper_threshold connections (active plus
    # inactive) and sends them again once it holds fewer than lower_threshold (ipvsadm -x/-y)
    upper_threshold: Connections | None = Field(None, description="a number of connections between 1 and 2147483647")
    lower_threshold: Connections | None = Field(None, description="a number of connections between 1 and 2147483647")

    @model_validator(mode="after")
    def _thresholds(self) -> RealServerRef:
        if self.lower_threshold is not None:
            if self.upper_threshold is None:
                raise ValueError("lower_threshold: only takes effect with upper_threshold (the number of "
                                 "connections at which the real server stops taking new ones): set both")
            if self.lower_threshold >= self.upper_threshold:
                raise ValueError(f"lower_threshold: {self.lower_threshold} must be below upper_threshold "
                                 f"({self.upper_threshold})")
        return self


class SorryServer(_Located):
    SHAPE: ClassVar[str] = "a mapping like {address: 127.0.0.1, port: 80}"
    address: Address = Field(description=ADDRESS_TEXT)
    port: Port = Field(description=PORT_TEXT)


class HealthCheck(_Located):
    """How the director's health checker tests each real server of a service (docs/inventory.md)."""

    SHAPE: ClassVar[str] = "a mapping like {type: http, path: /}"
    type: Literal[CHECK_TYPES] = Field(description=_one_of(CHECK_TYPES))
    port: Port | None = Field(None, description=PORT_TEXT + " (default: the real server's port)")
    path: UrlPath = Field("/", description="a URL path like /health (letters, digits and /._~%?&=+,;:@-)")
    status: int = Field(200, strict=True, ge=100, le=599, description="an HTTP status between 100 and 599")
    expect: CheckText | None = Field(None, description="text the response body must contain (letters, digits, "
                                                       "spaces and _.,:;=@/-)")
    virtualhost: VirtualHost | None = Field(None, description="a host name like www.example.com")
    command: Command | None = Field(None, description="an absolute path to an executable, then plain arguments "
                                                      "(letters, digits and ./:=@%+,-)")
    interval: CheckSeconds = Field(5, description="a number of seconds between 1 and 3600")
    timeout: CheckSeconds = Field(3, description="a number of seconds between 1 and 3600")
    retries: int = Field(2, strict=True, ge=1, le=100, description="an integer between 1 and 100")
    delay_before_retry: CheckSeconds | None = Field(None, description="a number of seconds between 1 and 3600")
    on_failure: Literal[ON_FAILURE] = Field("remove", description=_one_of(ON_FAILURE))
    sorry_server: SorryServer | None = Field(None, description=SorryServer.SHAPE)
    quorum: int | None = Field(None, strict=True, ge=1, le=65535, description="an integer between 1 and 65535")
    hysteresis: int | None = Field(None, strict=True, ge=0, le=65535, description="an integer between 0 and 65535")


class VirtualService(_Located):
    name: Name = Field(description=NAME_TEXT)
    vip: Address = Field(description=ADDRESS_TEXT)
    fwmark: Fwmark | None = Field(None, description="an integer between 1 and 4294967295")
    # the VIP's ports whose packets lvsdeploy marks with `fwmark` (its own mangle chain), so that IPVS balances
    # them as one service and persistence holds across them; empty: the mark is set by the user's own rules
    fwmark_ports: list[Port] = Field(default_factory=list, description=PORT_TEXT)
    port: Port | None = Field(None, description=PORT_TEXT)
    protocol: Protocol = Field("tcp", description=_one_of(PROTOCOLS))
    mode: Mode = Field(description=_one_of(tuple(MODES)))
    scheduler: Scheduler = Field("wlc", description=_one_of(SCHEDULERS))
    scheduler_flags: list[Literal[ALL_SCHEDULER_FLAGS]] = Field(default_factory=list,
                                                                description=_one_of(ALL_SCHEDULER_FLAGS))
    persistence: Seconds | None = Field(None, description="a number of seconds between 1 and 2147483647")
    persistence_netmask: Address | None = Field(None, description="an IPv4 netmask like 255.255.255.0")
    realservers: list[RealServerRef] = Field(default_factory=list)
    # None: the default check of the protocol (lvs.DEFAULT_CHECK), used when the director runs a checker
    health_check: HealthCheck | None = Field(None, description=HealthCheck.SHAPE)

    @model_validator(mode="after")
    def _flag_and_port_rules(self) -> VirtualService:
        allowed = SCHEDULER_FLAGS.get(self.scheduler, ())
        for flag in self.scheduler_flags:
            if flag not in allowed:
                raise ValueError(f"scheduler_flags: {flag} is a flag of scheduler {flag.split('-')[0]}, not of "
                                 f"{self.scheduler}" + (f" (which takes {', '.join(allowed)})" if allowed else ""))
        twice = sorted({f for f in self.scheduler_flags if self.scheduler_flags.count(f) > 1})
        if twice:
            raise ValueError(f"scheduler_flags: lists {', '.join(twice)} twice")
        if self.fwmark_ports:
            if self.fwmark is None:
                raise ValueError("fwmark_ports: marks packets with the service's fwmark: set fwmark too")
            if len(self.fwmark_ports) > MAX_FWMARK_PORTS:
                raise ValueError(f"fwmark_ports: lists {len(self.fwmark_ports)} ports; one marking rule takes at "
                                 f"most {MAX_FWMARK_PORTS}: split them over two services")
            twice = sorted({p for p in self.fwmark_ports if self.fwmark_ports.count(p) > 1})
            if twice:
                raise ValueError(f"fwmark_ports: lists {', '.join(map(str, twice))} twice")
        if self.port is None and self.fwmark is None:
            raise ValueError("port: is required (an integer between 1 and 65535) unless fwmark is set")
        for rs in self.realservers:
            if rs.port is None:
                rs.port = self.port or 0
        return self

    @property
    def key(self) -> str:
        """Stable identity of the IPVS virtual service: "fwmark 1" or "tcp 10.20.0.10:80"."""
        if self.fwmark is not None:
            return f"fwmark {self.fwmark}"
        return f"{self.protocol} {self.vip}:{self.port}"

    def hosts(self) -> list[str]:
        return [rs.host for rs in self.realservers]


class ShareOptions(_Located):
    SHAPE: ClassVar[str] = "a mapping like {export: 'rw,sync', mount: 'rw,hard'}"
    export: Options = Field(DEFAULT_EXPORT_OPTIONS, description="NFS export options separated by commas, no spaces")
    mount: Options = Field(DEFAULT_MOUNT_OPTIONS, description="mount options separated by commas, no spaces")


Size = Annotated[str, Field(strict=True, pattern=r"^[1-9][0-9]{0,5}[MGT]$")]


class Share(_Located):
    name: Name = Field(description=NAME_TEXT)
    type: ShareType = Field("nfs", description="nfs, gfs2 or ocfs2")
    server: HostName = Field(description="the name of a host of group storage")
    export: str | None = Field(None, strict=True, description="an absolute path on the server like /srv/lvs/content")
    # gfs2/ocfs2: what the server exports as the share's iSCSI LUN
    device: str | None = Field(None, strict=True, description="an absolute path on the server: a block device like "
                                                              "/dev/disk/by-id/..., or a file with size")
    size: Size | None = Field(None, description="a size like 2G (a number, then M, G or T)")
    journals: int | None = Field(None, strict=True, ge=1, le=255, description="an integer between 1 and 255")
    mount: str = Field(strict=True, description="an absolute path on the clients like /var/www/html/shared")
    # None in the file means "all real servers"; the loader fills in the names, so it is always a list here
    clients: list[HostName] | None = Field(None, description="a host name")
    options: ShareOptions = Field(default_factory=ShareOptions)

    @model_validator(mode="after")
    def _type_rules(self) -> Share:
        if self.type == "nfs":
            if self.export is None:
                raise ValueError("export: is required (an absolute path on the server like /srv/lvs/content)")
            for key in ("device", "size", "journals"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key}: is for gfs2 and ocfs2 shares; an nfs share exports a directory")
            return self
        if self.device is None:
            raise ValueError(f"device: is required for a {self.type} share (the server's block device, or a "
                             "file with size)")
        if self.export is not None:
            raise ValueError(f"export: is for nfs shares; a {self.type} share exports its device over iSCSI")
        if "export" in self.options.model_fields_set:
            raise ValueError(f"options: export options are for nfs shares, not {self.type}")
        if self.is_file_backed and self.size is None:
            raise ValueError("size: is required for a file-backed LUN (device is not under /dev), like 2G")
        if not self.is_file_backed and self.size is not None:
            raise ValueError("size: is for a file-backed LUN; a block device has its own size")
        return self

    @property
    def is_block(self) -> bool:
        return self.type in BLOCK_SHARE_TYPES

    @property
    def is_file_backed(self) -> bool:
        return self.device is not None and not self.device.startswith("/dev/")


def _centiseconds(value: float) -> float:
    # VRRPv3 carries the interval in centiseconds (12 bits): keepalived refuses anything finer
    if abs(round(value * 100) - value * 100) > 1e-6:
        raise ValueError("not a whole number of hundredths")
    return value


AdvertInterval = Annotated[float, Field(strict=True, ge=0.01, le=40.95), AfterValidator(_centiseconds)]


class Failover(_Located):
    """Two or more directors sharing the VIPs by keepalived's VRRP, connections kept by the IPVS sync daemon
    (docs/inventory.md "Director failover"). Set once for the cluster, in all.vars."""

    SHAPE: ClassVar[str] = "a mapping like {virtual_router_id: 51}"
    virtual_router_id: int = Field(51, strict=True, ge=1, le=255, description="an integer between 1 and 255")
    advert_int: AdvertInterval = Field(1, description="a number of seconds between 0.01 and 40.95 in steps of "
                                                      "0.01 (VRRPv3), like 1 or 0.5")
    preempt: bool = Field(True, strict=True, description="true (the highest priority takes the VIPs back) or "
                                                         "false (nopreempt: the VIPs stay where they are)")
    preempt_delay: int = Field(0, strict=True, ge=0, le=1000, description="a number of seconds between 0 and 1000")
    # unicast adverts from DIP to DIP work where multicast (224.0.0.18) is filtered, as in most clouds
    unicast: bool = Field(True, strict=True, description="true (adverts to the other directors' DIPs) or false "
                                                         "(VRRP multicast 224.0.0.18)")
    # NAT: the real servers' default gateway, an address that moves with the VIPs (each director keeps its DIP)
    gateway: Cidr | None = Field(None, description=CIDR_TEXT + " in the directors' DIP network")
    sync_daemon: bool = Field(True, strict=True, description="true or false")
    sync_id: int | None = Field(None, strict=True, ge=0, le=255, description="an integer between 0 and 255 "
                                                                            "(default: virtual_router_id)")
    interface: Interface | None = Field(None, description=INTERFACE_TEXT + " (default: the DIP's interface)")
    sync_interface: Interface | None = Field(None, description=INTERFACE_TEXT + " (default: the DIP's interface)")

    @property
    def sync_group_id(self) -> int:
        return self.virtual_router_id if self.sync_id is None else self.sync_id


IqnPrefix = Annotated[str, Field(strict=True, pattern=r"^iqn\.[0-9]{4}-(0[1-9]|1[0-2])(\.[a-z0-9-]+){2,}$",
                                 max_length=160)]
ClusterName = Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9_-]{1,15}$")]


class StorageCluster(_Located):
    """The cluster stack and iSCSI names of the gfs2/ocfs2 shares (docs/inventory.md "Cluster filesystems").
    Set once for the cluster, in all.vars."""

    SHAPE: ClassVar[str] = "a mapping like {name: lvs}"
    # corosync's cluster_name and the gfs2 lock table's first half; o2cb's cluster name (at most 15 characters)
    name: ClusterName = Field("lvs", description="at most 15 letters, digits, '_' or '-'")
    # IQNs: PREFIX:SERVER.SHARE for targets, PREFIX:HOST for initiators. A naming authority the user owns
    # (iqn.YYYY-MM.reversed.domain); rtslib refuses a one-label domain
    iqn_prefix: IqnPrefix = Field("iqn.2026-11.io.lvsdeploy", description="an IQN prefix like "
                                                                         "iqn.2026-11.com.example (date, then a "
                                                                         "reversed domain of two labels or more)")
    # corosync's authkey, read on this machine: without one, cluster traffic is neither encrypted nor authenticated
    key_file: LocalPath | None = Field(None, description="a file on this machine (corosync-keygen -k FILE makes one)")


Flag = Annotated[int, Field(strict=True, ge=0, le=1)]
FLAG_TEXT = "0 or 1"


# The kernel refuses a timeout above INT_MAX / HZ seconds: 2147483 with HZ=1000, the largest HZ
IPVS_TIMEOUT_MAX = 2147483
IpvsTimeout = Annotated[int, Field(strict=True, ge=1, le=IPVS_TIMEOUT_MAX)]
IPVS_TIMEOUT_TEXT = f"a number of seconds between 1 and {IPVS_TIMEOUT_MAX}"


class IpvsTimeouts(_Located):
    """`ipvsadm --set TCP TCPFIN UDP`: how long IPVS keeps an idle connection entry; unset ones stay as they are."""

    SHAPE: ClassVar[str] = "a mapping like {tcp: 900, tcpfin: 120, udp: 300}"
    tcp: IpvsTimeout | None = Field(None, description=IPVS_TIMEOUT_TEXT)
    tcpfin: IpvsTimeout | None = Field(None, description=IPVS_TIMEOUT_TEXT)
    udp: IpvsTimeout | None = Field(None, description=IPVS_TIMEOUT_TEXT)


class IpvsSysctls(_Located):
    """The net.ipv4.vs.* settings users tune (Documentation/networking/ipvs-sysctl.rst). conntrack and the sync
    daemon's keys are lvsdeploy's own (FULLNAT, failover), so they are not offered; neither are drop_entry,
    drop_packet and secure_tcp, which the kernel switches between 1 and 2 by itself (a plan would see drift)."""

    SHAPE: ClassVar[str] = "a mapping like {conn_reuse_mode: 1, sloppy_tcp: 0}"
    am_droprate: Annotated[int, Field(strict=True, ge=0, le=2147483647)] | None = Field(
        None, description="an integer between 0 and 2147483647")
    amemthresh: Annotated[int, Field(strict=True, ge=0, le=2147483647)] | None = Field(
        None, description="an integer between 0 and 2147483647")
    cache_bypass: Flag | None = Field(None, description=FLAG_TEXT)
    conn_reuse_mode: Annotated[int, Field(strict=True, ge=0, le=3)] | None = Field(
        None, description="an integer between 0 and 3 (bit 1: reschedule a reused port, bit 2: also with conntrack)")
    expire_nodest_conn: Flag | None = Field(None, description=FLAG_TEXT)
    expire_quiescent_template: Flag | None = Field(None, description=FLAG_TEXT)
    ignore_tunneled: Flag | None = Field(None, description=FLAG_TEXT)
    nat_icmp_send: Flag | None = Field(None, description=FLAG_TEXT)
    pmtu_disc: Flag | None = Field(None, description=FLAG_TEXT)
    schedule_icmp: Flag | None = Field(None, description=FLAG_TEXT)
    sloppy_sctp: Flag | None = Field(None, description=FLAG_TEXT)
    sloppy_tcp: Flag | None = Field(None, description=FLAG_TEXT)
    snat_reroute: Flag | None = Field(None, description=FLAG_TEXT)

    def keys(self) -> dict[str, str]:
        """{"net.ipv4.vs.NAME": "VALUE"} for the ones set."""
        return {f"net.ipv4.vs.{k}": str(v) for k, v in self.model_dump().items() if v is not None}


class IpvsSettings(_Located):
    """lvs_ipvs: the directors' IPVS tuning, set once for the cluster (docs/inventory.md "IPVS tuning")."""

    SHAPE: ClassVar[str] = "a mapping like {timeouts: {tcp: 900}, sysctls: {sloppy_tcp: 1}}"
    timeouts: IpvsTimeouts = Field(default_factory=IpvsTimeouts)
    sysctls: IpvsSysctls = Field(default_factory=IpvsSysctls)


class Cluster(_Located):
    """The whole inventory. origin has entries for "lvs_virtual_services" and "lvs_shared_storage"."""

    source: Path
    hosts: dict[str, Host]
    services: list[VirtualService] = Field(default_factory=list)
    shares: list[Share] = Field(default_factory=list)
    failover: Failover | None = None   # lvs_failover; two or more directors need it (validate.failover)
    storage_cluster: StorageCluster = Field(default_factory=StorageCluster)   # lvs_storage_cluster
    ipvs: IpvsSettings = Field(default_factory=IpvsSettings)   # lvs_ipvs
    _warnings: list = PrivateAttr(default_factory=list)   # errors.Problem: worth saying, not worth stopping
    # set by `lvsdeploy drain`/`undrain` for one run, never by the inventory: (drain, undrain) lists of
    # {service, dest[, since]} for the directors' ipvs task (lvsdeploy/drain.py)
    _drain_request: tuple[list, list] = PrivateAttr(default=([], []))

    @property
    def warnings(self) -> list:
        return self._warnings

    @property
    def drain_request(self) -> tuple[list, list]:
        return self._drain_request

    @drain_request.setter
    def drain_request(self, request: tuple[list, list]) -> None:
        self._drain_request = request

    @warnings.setter
    def warnings(self, problems: list) -> None:
        self._warnings = list(problems)

    def _in_group(self, test) -> list[Host]:
        return sorted((h for h in self.hosts.values() if test(h)), key=lambda h: h.name)

    def directors(self) -> list[Host]:
        return self._in_group(lambda h: h.is_director)

    def realservers(self) -> list[Host]:
        return self._in_group(lambda h: h.is_realserver)

    def storage_nodes(self) -> list[Host]:
        return self._in_group(lambda h: h.is_storage)

    def clients(self) -> list[Host]:
        return self._in_group(lambda h: h.is_client)

    def services_for(self, host_name: str) -> list[VirtualService]:
        """Services that use host_name as a real server."""
        return [s for s in self.services if host_name in s.hosts()]

    def shares_for_client(self, host_name: str) -> list[Share]:
        return [s for s in self.shares if host_name in (s.clients or [])]

    def shares_on_server(self, host_name: str) -> list[Share]:
        return [s for s in self.shares if s.server == host_name]

    def modes(self) -> set[str]:
        return {s.mode for s in self.services}

    def vips(self) -> list[str]:
        """The services' VIPs, each once, sorted (a fwmark service without one has none)."""
        return sorted({str(s.vip) for s in self.services if s.vip})


# ---- variables read from the inventory -------------------------------------------------------------

@dataclass(frozen=True)
class VarSpec:
    """A known variable: the attribute it fills (on Host, or "connection.x"), its type, its description."""

    target: str | None
    type: Any
    expect: str


def _ssh_args(value: Any) -> dict:
    if not isinstance(value, str):
        raise ValueError("not text")
    return parse_ssh_args(value)


# lax on purpose: Ansible users often quote ports ("2222"), and Ansible accepts that
LaxPort = Annotated[int, Field(ge=1, le=65535)]
SshArgs = Annotated[dict, BeforeValidator(_ssh_args)]
SSH_ARGS_TEXT = f"OpenSSH options lvsdeploy understands ({SUPPORTED_SSH_ARGS})"
DESTINATION_TEXT = "a host name, ssh_config alias or address (letters, digits, '.', '_', '-', ':')"
ACCOUNT_TEXT = "a user name (letters, digits, '.', '_', '-')"
PATH_TEXT = "a file path"

# Between aliases of one setting, the later entry wins: ansible_host/_port/_user over the older ansible_ssh_*
# forms, and ansible_ssh_private_key_file over ansible_private_key_file.
HOST_VARS: dict[str, VarSpec] = {
    "ansible_ssh_host": VarSpec("connection.host", Destination, DESTINATION_TEXT),
    "ansible_host": VarSpec("connection.host", Destination, DESTINATION_TEXT),
    "ansible_ssh_port": VarSpec("connection.port", LaxPort, PORT_TEXT),
    "ansible_port": VarSpec("connection.port", LaxPort, PORT_TEXT),
    "ansible_ssh_user": VarSpec("connection.user", Account, ACCOUNT_TEXT),
    "ansible_user": VarSpec("connection.user", Account, ACCOUNT_TEXT),
    "ansible_private_key_file": VarSpec("connection.key_file", LocalPath, PATH_TEXT),
    "ansible_ssh_private_key_file": VarSpec("connection.key_file", LocalPath, PATH_TEXT),
    "ansible_connection": VarSpec(None, Literal["ssh", "smart", "paramiko"],
                                  "ssh (lvsdeploy works over SSH only; 'local' and the rest are not supported)"),
    "ansible_ssh_common_args": VarSpec("connection.common_args", SshArgs, SSH_ARGS_TEXT),
    "ansible_ssh_extra_args": VarSpec("connection.extra_args", SshArgs, SSH_ARGS_TEXT),
    "ansible_become": VarSpec("connection.become", bool, "true or false"),
    "ansible_become_user": VarSpec(None, Literal["root"], "root (other become users are not supported)"),
    "ansible_become_method": VarSpec(None, Literal["sudo"], "sudo (other become methods are not supported)"),
    "lvs_known_hosts_file": VarSpec("connection.known_hosts", LocalPath, PATH_TEXT),
    "lvs_dip": VarSpec("dip", Cidr, CIDR_TEXT),
    "lvs_dip_interface": VarSpec("dip_interface", Interface, INTERFACE_TEXT),
    "lvs_vip_interface": VarSpec("vip_interface", Interface, INTERFACE_TEXT),
    "lvs_rip": VarSpec("rip", Cidr, CIDR_TEXT),
    "lvs_rip_interface": VarSpec("rip_interface", Interface, INTERFACE_TEXT),
    "lvs_storage_ip": VarSpec("storage_ip", Cidr, CIDR_TEXT),
    "lvs_client_ip": VarSpec("client_ip", Cidr, CIDR_TEXT),
    "lvs_health_checker": VarSpec("health_checker", Literal[CHECKERS], _one_of(CHECKERS)),
    "lvs_vrrp_priority": VarSpec("vrrp_priority", Annotated[int, Field(strict=True, ge=1, le=254)],
                                 "an integer between 1 and 254"),
}
# Refused whatever their value (which is never shown: it may be a secret).
REFUSED_VARS = {
    **dict.fromkeys(("ansible_password", "ansible_ssh_pass", "ansible_ssh_password"),
                    "lvsdeploy logs in with keys only (an ssh-agent, key files, ssh_config); remove the password"),
    **dict.fromkeys(("ansible_become_password", "ansible_become_pass", "ansible_sudo_pass"),
                    "lvsdeploy needs passwordless sudo (NOPASSWD) for the login user; remove the password"),
}
# set once for the whole cluster, in all.vars or group_vars/all
CLUSTER_VARS = ("lvs_virtual_services", "lvs_shared_storage", "lvs_failover", "lvs_storage_cluster", "lvs_ipvs")
LVS_VARS = tuple(sorted([v for v in HOST_VARS if v.startswith("lvs_")] + list(CLUSTER_VARS)))
# the group whose hosts must define a variable, and the variable
REQUIRED_VARS = {DIRECTORS: "lvs_dip", REALSERVERS: "lvs_rip", STORAGE: "lvs_storage_ip"}


# ---- turning pydantic errors into sentences --------------------------------------------------------

def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class inside list[X] / X | None / Annotated[X, ...], if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (list, Union, Annotated, types.UnionType):
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def loc_path(loc: tuple) -> str:
    """("realservers", 1, "weight") -> "realservers[1].weight"."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def show_value(value: Any) -> str:
    """How a wrong value appears in a message: 'heavy', 3, a mapping, a list, nothing."""
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    if value is None:
        return "nothing"
    return repr(value)


def explain(exc: ValidationError, model: type[BaseModel]) -> list[tuple[str, str]]:
    """(path, sentence) for each error of `model.model_validate`, e.g. ("realservers[1].weight",
    "must be an integer between 0 and 65535, got 'heavy'")."""
    out: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        loc, kind, value = err["loc"], err["type"], err.get("input")
        owner, info = model, None
        for part in loc:
            if isinstance(part, int) or owner is None:
                continue
            info = owner.model_fields.get(part)
            if info is None:
                break
            owner = _model_in(info.annotation)
        if kind == "extra_forbidden":
            parent = model
            for part in loc[:-1]:
                if not isinstance(part, int) and parent is not None:
                    parent = _model_in(parent.model_fields[part].annotation)
            known = list(parent.model_fields) if parent else []
            out.append((loc_path(loc), f"unknown key{did_you_mean(str(loc[-1]), known, list_all=True)}"))
        elif kind == "value_error" and not loc:  # raised by a model validator: "key: sentence"
            key, _, sentence = str(err["ctx"]["error"]).partition(": ")
            out.append((key, sentence))
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            shape = getattr(owner, "SHAPE", "a mapping")
            out.append((loc_path(loc), f"must be {shape}, got {show_value(value)}"))
        elif kind == "list_type":
            out.append((loc_path(loc), f"must be a list, got {show_value(value)}"))
        elif kind == "missing":
            expect = f" ({info.description})" if info is not None and info.description else ""
            out.append((loc_path(loc), f"is required{expect}"))
        elif info is not None and info.description:
            out.append((loc_path(loc), f"must be {info.description}, got {show_value(value)}"))
        else:
            out.append((loc_path(loc), str(err["msg"]).lower()))
    return out
