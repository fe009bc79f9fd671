"""A director's IPVS table as it runs now: services, real servers, weights, connections, counters and rates,
and the addresses the director holds (which VIPs are here). Read in one remote command, parsed here.

ipvsadm is asked three times (the list, --stats and --rate, all --exact so numbers are plain integers) and
/proc/net/ip_vs_stats once for the totals node_exporter reports. Only when /proc/net/ip_vs exists: ipvsadm
would load the ip_vs module on a host without it, and looking must change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lvsdeploy import drain

STATUS_SNIPPET = """\
if [ -e /proc/net/ip_vs ] && command -v ipvsadm >/dev/null 2>&1; then
  echo '@@ list'; ipvsadm -Ln --exact
  echo '@@ stats'; ipvsadm -Ln --stats --exact
  echo '@@ rate'; ipvsadm -Ln --rate --exact
  echo '@@ totals'; cat /proc/net/ip_vs_stats
elif [ -e /proc/net/ip_vs ]; then echo '@@ no-ipvsadm'
else echo '@@ not-loaded'; fi
echo '@@ addresses'; ip -o addr show
echo '@@ drained'; cat /etc/lvsdeploy/drained 2>/dev/null
true"""

NOT_RUNNING = "keepalived-not-running"   # the status read's line when keepalived is not active

PROTOCOLS = ("TCP", "UDP", "SCTP", "FWM")
COUNTERS = ("conns", "in_packets", "out_packets", "in_bytes", "out_bytes")
RATES = ("cps", "in_pps", "out_pps", "in_bps", "out_bps")


@dataclass
class LiveDest:
    ip: str
    port: int
    forward: str = ""          # ipvsadm's word: Route, Masq, Tunnel, Local
    weight: int = 0
    active: int = 0            # ActiveConn
    inactive: int = 0          # InActConn
    stats: dict[str, int] = field(default_factory=dict)   # COUNTERS since the destination was added
    rates: dict[str, int] = field(default_factory=dict)   # RATES, per second (the kernel's 2 s estimator)


@dataclass
class LiveService:
    protocol: str              # TCP, UDP, SCTP or FWM
    address: str               # "10.20.0.10:80", or the firewall mark for FWM
    scheduler: str = ""
    flags: str = ""            # what ipvsadm prints after the scheduler: "persistent 360 mask 255.255.255.0", "ops"
    destinations: list[LiveDest] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    rates: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """As lvsdeploy's plan names services: "TCP 10.20.0.10:80", "FWM 7"."""
        return f"{self.protocol} {self.address}"

    @property
    def persistence(self) -> int | None:
        words = self.flags.split()
        if "persistent" in words and words.index("persistent") + 1 < len(words):
            value = words[words.index("persistent") + 1]
            return int(value) if value.isdigit() else None
        return None

    @property
    def scheduler_flags(self) -> list[str]:
        """ipvsadm prints them in brackets after the scheduler: "sh (sh-fallback,sh-port) persistent 60"."""
        found = [w for w in self.flags.split() if w.startswith("(") and w.endswith(")")]
        return sorted(found[0][1:-1].split(",")) if found else []

    def dest(self, ip: str, port: int) -> LiveDest | None:
        return next((d for d in self.destinations if (d.ip, d.port) == (ip, port)), None)


@dataclass
class DirectorTable:
    state: str = "ok"          # ok, not-loaded (no ip_vs module), no-ipvsadm
    services: list[LiveService] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)   # COUNTERS over the whole table (ip_vs_stats)
    addresses: set[str] = field(default_factory=set)        # every address held here, without prefix length
    drains: dict = field(default_factory=dict)              # lvsdeploy drain's record here (drain.parse)
    probes: dict[int, str] = field(default_factory=dict)    # the health checks' probes' answers (status.checks)
    vrrp_state: str | None = None                           # with failover: keepalived's VRRP state, or "unknown"

    def service(self, label: str) -> LiveService | None:
        return next((s for s in self.services if s.label == label), None)


def split_addrport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def _sections(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("@@ "):
            current = found.setdefault(line[3:].strip(), [])
        elif current is not None:
            current.append(line)
    return found


def _numbers(words: list[str], names: tuple[str, ...]) -> dict[str, int]:
    if len(words) < len(names) or not all(w.isdigit() for w in words[:len(names)]):
        return {}
    return dict(zip(names, (int(w) for w in words)))


def _rows(lines: list[str]):
    """(service words, [destination words, ...]) for each service of one ipvsadm listing; headers skipped."""
    rows: list[tuple[list[str], list[list[str]]]] = []
    for line in lines:
        words = line.split()
        if words[:1] and words[0] in PROTOCOLS and len(words) >= 2:
            rows.append((words, []))
        elif words[:1] == ["->"] and len(words) >= 2 and words[1] != "RemoteAddress:Port" and rows:
            rows[-1][1].append(words[1:])
    return rows


def _listing(lines: list[str]) -> list[LiveService]:
    services = []
    for words, dests in _rows(lines):
        service = LiveService(words[0], words[1], words[2] if len(words) > 2 else "", " ".join(words[3:]))
        for d in dests:
            ip, port = split_addrport(d[0])
            numbers = [int(w) if w.isdigit() else 0 for w in d[2:5]] + [0, 0, 0]
            service.destinations.append(LiveDest(ip, port, d[1] if len(d) > 1 else "", *numbers[:3]))
        services.append(service)
    return services


def _counters(services: list[LiveService], lines: list[str], attribute: str, names: tuple[str, ...]) -> None:
    """Fill `stats` or `rates` of the services and destinations the list found (matched by address)."""
    for words, dests in _rows(lines):
        service = next((s for s in services if s.protocol == words[0] and s.address == words[1]), None)
        if service is None:
            continue   # added between the two ipvsadm calls
        setattr(service, attribute, _numbers(words[2:], names))
        for d in dests:
            dest = service.dest(*split_addrport(d[0]))
            if dest is not None:
                setattr(dest, attribute, _numbers(d[1:], names))


def _totals(lines: list[str]) -> dict[str, int]:
    """/proc/net/ip_vs_stats: two header lines, then the five counters in hex."""
    for line in lines:
        words = line.split()
        if len(words) == 5 and all(_is_hex(w) for w in words):
            return dict(zip(COUNTERS, (int(w, 16) for w in words)))
    return {}


def _is_hex(word: str) -> bool:
    try:
        int(word, 16)
    except ValueError:
        return False
    return True


def _addresses(lines: list[str]) -> set[str]:
    """`ip -o addr show`: "2: eth0    inet 10.20.0.2/24 brd ..." -> {"10.20.0.2"}."""
    found = set()
    for line in lines:
        words = line.split()
        for i, word in enumerate(words[:-1]):
            if word in ("inet", "inet6"):
                found.add(words[i + 1].split("/")[0])
    return found


def parse_status(text: str) -> DirectorTable:
    sections = _sections(text)
    table = DirectorTable(addresses=_addresses(sections.get("addresses", [])),
                          drains=drain.parse("\n".join(sections.get("drained", [])).encode()),
                          probes={int(k.split()[1]): "\n".join(v) for k, v in sections.items()
                                  if k.startswith("probe ") and k.split()[1].isdigit()})
    if "vrrp" in sections:   # the journal read verify uses (verify.checks.KEEPALIVED_JOURNAL)
        from lvsdeploy.verify.checks import vrrp_transitions
        lines = [line for line in sections["vrrp"] if line.strip()]
        transitions = vrrp_transitions("\n".join(line for line in lines if line != NOT_RUNNING))
        # a stopped keepalived logs no state on its way out: its last one would still say MASTER
        table.vrrp_state = ("STOPPED" if NOT_RUNNING in lines else transitions[-1][1] if transitions else "unknown")
    if "not-loaded" in sections or "no-ipvsadm" in sections:
        table.state = "not-loaded" if "not-loaded" in sections else "no-ipvsadm"
        return table
    table.services = _listing(sections.get("list", []))
    _counters(table.services, sections.get("stats", []), "stats", COUNTERS)
    _counters(table.services, sections.get("rate", []), "rates", RATES)
    table.totals = _totals(sections.get("totals", []))
    return table
