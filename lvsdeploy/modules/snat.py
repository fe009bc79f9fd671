"""FULLNAT's source NAT on a director: IPVS masquerades a connection to its real server, and this rule rewrites
the client's address to the director's, so the real server answers the director whatever its routes.

Rules live in lvsdeploy's own chain of the nat table (facts/netfilter.FULLNAT), which POSTROUTING jumps to
first; modules/own_chain plans, loads, restores and removes it.
"""

from __future__ import annotations

from lvsdeploy.facts.netfilter import CHAIN, FULLNAT
from lvsdeploy.modules import own_chain
from lvsdeploy.modules.base import ModuleError, as_ipv4, check_args

NAME = "snat"

# xt_ipvs names the protocol by number; `iptables -S` prints it so
PROTOCOL_NUMBERS = {"tcp": 6, "udp": 17, "sctp": 132}


def _rule(item) -> str:
    """One rule, exactly as `iptables -S` prints it (so that facts compare as text)."""
    if not isinstance(item, dict):
        raise ModuleError(f"{NAME}: each rule must be a mapping of vip, port, protocol, to; got {item!r}")
    check_args(NAME, item, ("vip", "port", "protocol", "to"))
    vip, to = as_ipv4(NAME, "vip", item["vip"]), as_ipv4(NAME, "to", item["to"])
    port, protocol = item["port"], item["protocol"]
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ModuleError(f"{NAME}: port must be an integer between 1 and 65535, got {port!r}")
    if protocol not in PROTOCOL_NUMBERS:
        raise ModuleError(f"{NAME}: protocol must be one of {', '.join(PROTOCOL_NUMBERS)}, got {protocol!r}")
    # --vdir ORIGINAL: only the client's packets to the real server; the replies are IPVS's to rewrite
    return (f"-A {CHAIN} -m ipvs --vproto {PROTOCOL_NUMBERS[protocol]} --vaddr {vip} --vport {port} "
            "--vdir ORIGINAL -j SNAT --to-source " + str(to))


_TASK = own_chain.ChainTask(NAME, FULLNAT, _rule, lambda facts: facts.snat)
facts_needed, plan, persist = _TASK.facts_needed, _TASK.plan, _TASK.persist
