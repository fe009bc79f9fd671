"""The IPVS table, read with `ipvsadm -Sn` (the same rule syntax `ipvsadm -R` takes back).

Only run when /proc/net/ip_vs exists: on a host without the ip_vs module, ipvsadm would load it, and reading
facts must never change the host. No module, no ipvsadm, or ipvsadm failing all give "no table" plus a note.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import replace

from lvsdeploy.facts import IpvsDest, IpvsService, IpvsTable
from lvsdeploy.lvs import METHOD_SWITCH, PROTOCOL_SWITCH

IPVS_SNIPPET = """\
if [ -e /proc/net/ip_vs ]; then
  if command -v ipvsadm >/dev/null 2>&1; then
    if out=$(ipvsadm -Sn 2>&1); then echo 'state ok'; else echo 'state error'; fi
    printf '%s\\n' "$out"
  else echo 'state no-ipvsadm'; fi
else echo 'state not-loaded'; fi"""

# `ipvsadm -L --timeout` prints "Timeout (tcp tcpfin udp): 900 120 300"; read only with ip_vs loaded, as above
TIMEOUTS_SNIPPET = """\
if [ -e /proc/net/ip_vs ] && command -v ipvsadm >/dev/null 2>&1; then ipvsadm -L --timeout 2>/dev/null || true; fi"""
TIMEOUT_NAMES = ("tcp", "tcpfin", "udp")


def parse_timeouts(text: str) -> dict[str, int] | None:
    """{"tcp": 900, "tcpfin": 120, "udp": 300}, or None when they could not be read."""
    for line in text.splitlines():
        head, _, values = line.partition(":")
        if head.strip() == "Timeout (tcp tcpfin udp)":
            numbers = values.split()
            if len(numbers) == 3 and all(n.isdigit() for n in numbers):
                return dict(zip(TIMEOUT_NAMES, map(int, numbers)))
    return None


# `ipvsadm -Sn` leaves the real servers' connection thresholds out (seen on bookworm's ipvsadm 1.31), so they are
# read from the listing that shows them; also only with ip_vs loaded
THRESHOLDS_SNIPPET = """\
if [ -e /proc/net/ip_vs ] && command -v ipvsadm >/dev/null 2>&1; then ipvsadm -Ln --thresholds 2>/dev/null || true; fi"""


def parse_thresholds(text: str) -> dict[tuple, tuple[int, int]]:
    """{(service key, ip, port): (upper, lower)} for the real servers that have a threshold, from lines like
    "TCP  10.20.0.10:80 rr" / "FWM  7 rr" and "  -> 10.20.0.11:80   5   0   0   0" under them."""
    found: dict[tuple, tuple[int, int]] = {}
    service = None
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in ("TCP", "UDP", "SCTP"):
            service = (words[0], *split_addrport(words[1])) if ":" in words[1] else None
        elif len(words) >= 2 and words[0] == "FWM" and words[1].isdigit():
            service = ("FWM", int(words[1]))
        elif service is not None and len(words) >= 4 and words[0] == "->" and ":" in words[1]:
            upper, lower = words[2], words[3]
            if upper.isdigit() and lower.isdigit() and (int(upper) or int(lower)):
                found[(service, *split_addrport(words[1]))] = (int(upper), int(lower))
    return found


def with_thresholds(table: IpvsTable | None, text: str) -> IpvsTable | None:
    """The table with each real server's thresholds as `ipvsadm -Ln --thresholds` shows them."""
    if table is None:
        return None
    table.thresholds_text = text
    thresholds = parse_thresholds(text)
    for service in table.services:
        service.destinations = [
            replace(d, upper=thresholds[key][0], lower=thresholds[key][1])
            if (key := (service.key, d.ip, d.port)) in thresholds else d for d in service.destinations]
    return table


SERVICE_SWITCHES = {switch: protocol for protocol, switch in PROTOCOL_SWITCH.items()}
METHOD_SWITCHES = {switch: method for method, switch in METHOD_SWITCH.items()}
# Options ipvsadm may print that take a value we do not model (tunnel details, persistence engine).
_VALUED = {"--tun-type", "--tun-port", "pe"}


def split_addrport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def _parse_line(tokens: list[str]) -> dict:
    """Turn one rule line into {option: value}, with the service and method switches named."""
    rule: dict = {"cmd": tokens[0]}
    i = 1
    while i < len(tokens):
        tok = tokens[i]
        if tok in SERVICE_SWITCHES:
            rule["protocol"], rule["service"] = SERVICE_SWITCHES[tok], tokens[i + 1]
            i += 2
        elif tok in METHOD_SWITCHES:
            rule["method"] = METHOD_SWITCHES[tok]
            i += 1
        elif tok in ("-s", "-p", "-M", "-b", "-r", "-w", "-x", "-y") or tok in _VALUED:
            rule[tok] = tokens[i + 1]
            i += 2
        else:  # flags without a value: -6, --ops, --tun-nocsum, ...
            i += 1
    return rule


def _service_from(rule: dict) -> IpvsService:
    if rule["protocol"] == "FWM":
        vip, port, fwmark = None, None, int(rule["service"])
    else:
        (vip, port), fwmark = split_addrport(rule["service"]), None
    netmask = rule.get("-M")
    return IpvsService(
        protocol=rule["protocol"],
        vip=vip,
        port=port,
        fwmark=fwmark,
        scheduler=rule.get("-s", "wlc"),
        persistence=int(rule["-p"]) if "-p" in rule else None,
        netmask=None if netmask in (None, "255.255.255.255") else netmask,
        flags=tuple(sorted(rule["-b"].split(","))) if rule.get("-b") else (),
    )


def parse_rules(text: str) -> IpvsTable:
    """`-A -t 10.20.0.10:80 -s rr -p 300` / `-a -t 10.20.0.10:80 -r 10.20.0.11:80 -g -w 1` lines."""
    services: dict[tuple, IpvsService] = {}
    for line in text.splitlines():
        tokens = line.split()
        if not tokens or tokens[0] not in ("-A", "-a"):
            continue
        rule = _parse_line(tokens)
        if "protocol" not in rule:
            continue
        if tokens[0] == "-A":
            service = _service_from(rule)
            services[service.key] = service
        else:
            owner = services.get(_service_from(rule).key)
            ip, port = split_addrport(rule["-r"]) if ":" in rule["-r"] else (rule["-r"], 0)
            if owner is not None:
                owner.destinations.append(
                    IpvsDest(ip=ip, port=port, weight=int(rule.get("-w", 1)), method=rule.get("method", "route"),
                             upper=int(rule.get("-x", 0)), lower=int(rule.get("-y", 0)))
                )
    return IpvsTable(services=list(services.values()))


def rows_of(text: str, keys: list[str]) -> str:
    """The lines of an `ipvsadm -Sn` text that belong to the services with these keys (" -t 10.20.0.10:80 ",
    " -f 7 ": the service switch between spaces, as in both its -A and its -a lines), as `grep -F` prints them."""
    return "".join(f"{line}\n" for line in text.splitlines() if any(key in line for key in keys))


def rows_digest(text: str, keys: list[str]) -> str:
    return hashlib.sha256(rows_of(text, keys).encode()).hexdigest()


def rows_guard(keys: list[str], digest: str) -> str:
    """A shell test that holds while those services' rows of the live table still hash to `digest`: other
    tools' services (keepalived, kube-proxy) may change meanwhile without making the plan stale."""
    patterns = " ".join(f"-e {shlex.quote(key)}" for key in keys)
    return f'[ "$(ipvsadm -Sn 2>&1 | grep -F {patterns} | sha256sum | cut -c1-64)" = {digest} ]'


# Each real server's row of `ipvsadm -Ln --thresholds` as "SERVICE DEST UPPER LOWER" ("TCP 10.20.0.10:80
# 10.20.0.11:80 3 0", "FWM 7 10.20.0.11:0 9 3"), without the connection counts, which change all the time.
# threshold_rows below is the same program in Python: the guard and the facts hash the same rows.
THRESHOLD_ROWS_AWK = ("awk '$1 ~ /^(TCP|UDP|SCTP|FWM)$/ { s = $1 \" \" $2; next } "
                      "$1 == \"->\" && s != \"\" { print s, $2, $3, $4 }'")
SERVICE_WORDS = ("TCP", "UDP", "SCTP", "FWM")


def threshold_rows(text: str, labels: list[str]) -> str:
    """The rows THRESHOLD_ROWS_AWK prints for `text`, kept when they contain one of `labels` (as grep -F)."""
    rows, service = [], ""
    for line in text.splitlines():
        words = line.split()
        if words and words[0] in SERVICE_WORDS:
            service = f"{words[0]} {words[1] if len(words) > 1 else ''}"
        elif words and words[0] == "->" and service:
            rows.append(" ".join([service, *(words[1:4] + [""] * (3 - len(words[1:4])))]))
    return "".join(f"{row}\n" for row in rows if any(label in row for label in labels))


def thresholds_guard(labels: list[str], digest: str) -> str:
    """A shell test that holds while those services' thresholds still hash to `digest` (a hand-made `-x` between
    plan and apply stops the apply, as an edit seen by `ipvsadm -Sn` does)."""
    patterns = " ".join(f"-e {shlex.quote(label)}" for label in labels)
    return (f'[ "$(ipvsadm -Ln --thresholds 2>&1 | {THRESHOLD_ROWS_AWK} | grep -F {patterns} | sha256sum | '
            f'cut -c1-64)" = {digest} ]')


def parse_ipvs(text: str) -> tuple[IpvsTable | None, str | None]:
    """(table, note): the table is None whenever it could not be read, and the note says why."""
    lines = text.splitlines()
    state = lines[0].split()[-1] if lines else "missing"
    body = "\n".join(lines[1:])
    if state == "ok":
        table = parse_rules(body)
        table.text = body
        return table, None
    if state == "not-loaded":
        return None, "ip_vs is not loaded (no /proc/net/ip_vs): IPVS table read as empty"
    if state == "no-ipvsadm":
        return None, "ip_vs is loaded but ipvsadm is not installed: IPVS table could not be read"
    return None, f"ipvsadm -Sn failed: {body.strip() or state}"
