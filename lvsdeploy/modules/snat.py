"""FULLNAT's source NAT on a director: IPVS masquerades a connection to its real server, and this rule rewrites
the client's address to the director's, so the real server answers the director whatever its routes.

Rules live in lvsdeploy's own chain of the nat table (facts/netfilter.CHAIN), which POSTROUTING jumps to first;
no other rule of the host is read, changed or reordered. The chain is loaded whole by `iptables-restore
--noflush` (one transaction: there is no moment with half of it), and at boot by the same command from the
network boot script. With no rule wanted, the jump and the chain are removed.
"""

from __future__ import annotations

from lvsdeploy.facts.netfilter import CHAIN, HOOK
from lvsdeploy.modules.base import Change, FactsRequest, ModuleError, as_ipv4, check_args, q

NAME = "snat"

# xt_ipvs names the protocol by number; `iptables -S` prints it so
PROTOCOL_NUMBERS = {"tcp": 6, "udp": 17, "sctp": 132}
IPTABLES = "iptables -w 10 -t nat"


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


def _rules(args: dict) -> list[str]:
    check_args(NAME, args, ("rules",))
    if not isinstance(args["rules"], list):
        raise ModuleError(f"{NAME}: rules must be a list, got {args['rules']!r}")
    return list(dict.fromkeys(_rule(item) for item in args["rules"]))


def facts_needed(args: dict) -> FactsRequest:
    _rules(args)
    return FactsRequest(netfilter=True)


def load_command(rules: list[str]) -> str:
    """Create or replace the chain in one transaction: a declared chain is created, or flushed if it exists."""
    lines = ["*nat", f":{CHAIN} - [0:0]", *rules, "COMMIT"]
    return f"printf '%s\\n' {' '.join(q(line) for line in lines)} | iptables-restore -w 10 --noflush"


JUMP_FIRST = f"{IPTABLES} -C {HOOK} -j {CHAIN} 2>/dev/null || {IPTABLES} -I {HOOK} 1 -j {CHAIN}"


def plan(args: dict, facts) -> list[Change]:
    wanted = _rules(args)
    chain = facts.snat
    if not chain.readable and not wanted:
        return []   # no iptables: there can be no chain of ours (a package task before this one installs it)
    resource = f"netfilter nat chain {CHAIN}"
    if not wanted:
        if not chain.exists and not chain.jumps:
            return []
        diff = tuple(f"- {rule}" for rule in chain.rules) + (f"- {HOOK} -j {CHAIN}",) * chain.jumps
        commands = (f"while {IPTABLES} -D {HOOK} -j {CHAIN} 2>/dev/null; do :; done",
                    f"if {IPTABLES} -S {CHAIN} >/dev/null 2>&1; then {IPTABLES} -F {CHAIN}; {IPTABLES} -X {CHAIN}; fi")
        return [Change(resource, diff, commands)]
    changes = []
    if not chain.exists or chain.rules != wanted:
        diff = tuple(f"- {r}" for r in chain.rules if r not in wanted) + tuple(
            f"+ {r}" for r in wanted if r not in chain.rules)
        changes.append(Change(resource, diff or ("~ rule order",), (load_command(wanted),)))
    if chain.jumps != 1:
        extra = (f"{IPTABLES} -D {HOOK} -j {CHAIN}",) * max(chain.jumps - 1, 0)
        diff = (f"+ {HOOK} -j {CHAIN}",) if not chain.jumps else (f"- {HOOK} -j {CHAIN} (x{chain.jumps - 1})",)
        changes.append(Change(f"netfilter nat {HOOK} jump to {CHAIN}", diff, extra + (JUMP_FIRST,)))
    return changes


def persist(args: dict, facts) -> list[tuple[str, str]]:
    """Lines of the network boot script: the chain, then the jump (both idempotent)."""
    wanted = _rules(args)
    return [("network", load_command(wanted)), ("network", JUMP_FIRST)] if wanted else []
