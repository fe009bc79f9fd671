"""The marks of fwmark services on a director: packets to a service's VIP and ports get its mark on the way in,
and IPVS balances them as one virtual service (`ipvsadm -A -f MARK`), so that persistence holds across ports.

Rules live in lvsdeploy's own chain of the mangle table (facts/netfilter.FWMARK), which PREROUTING jumps to
first; modules/own_chain plans, loads, restores and removes it. A mark replaces the packet's whole mark: IPVS
looks its service up by the whole value.
"""

from __future__ import annotations

from lvsdeploy.facts.netfilter import FWMARK
from lvsdeploy.modules import own_chain
from lvsdeploy.modules.base import ModuleError, as_ipv4, check_args

NAME = "fwmark_marks"

PROTOCOLS = ("tcp", "udp", "sctp")
MAX_PORTS = 15   # the multiport match takes at most 15 ports


def _int(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ModuleError(f"{NAME}: {name} must be an integer between {low} and {high}, got {value!r}")
    return value


def _rule(item) -> str:
    """One rule, exactly as `iptables -S` prints it (so that facts compare as text)."""
    if not isinstance(item, dict):
        raise ModuleError(f"{NAME}: each rule must be a mapping of vip, protocol, ports, mark; got {item!r}")
    check_args(NAME, item, ("vip", "protocol", "ports", "mark"))
    vip, protocol, ports = as_ipv4(NAME, "vip", item["vip"]), item["protocol"], item["ports"]
    if protocol not in PROTOCOLS:
        raise ModuleError(f"{NAME}: protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if not isinstance(ports, list) or not 1 <= len(ports) <= MAX_PORTS:
        raise ModuleError(f"{NAME}: ports must be a list of 1 to {MAX_PORTS} ports, got {ports!r}")
    ports = [_int("each port", p, 1, 65535) for p in ports]
    mark = _int("mark", item["mark"], 1, 0xFFFFFFFF)
    return (f"-A {FWMARK.name} -d {vip}/32 -p {protocol} -m multiport --dports {','.join(map(str, ports))} "
            f"-j MARK --set-xmark {mark:#x}/0xffffffff")


_TASK = own_chain.ChainTask(NAME, FWMARK, _rule, lambda facts: facts.fwmark)
facts_needed, plan, persist = _TASK.facts_needed, _TASK.plan, _TASK.persist
