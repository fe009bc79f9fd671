"""lvsdeploy's own netfilter chains, as `iptables -S` prints them: FULLNAT's source NAT (nat table) and the
marks of fwmark services (mangle table). Only these chains and the jumps into them are read; every other rule of
the host is none of our business.

Read only when a task asks (FactsRequest.netfilter), and only when the table can exist: listing a table that no
module provides would load one (and, for nat, connection tracking with it) on a host that had none.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class OwnChain:
    """One chain lvsdeploy owns: where it lives, and the built-in chain that jumps to it first."""

    table: str
    name: str
    hook: str
    modules: tuple[str, ...]   # any of these loaded (/sys/module) means the table may hold rules

    @property
    def jump(self) -> str:
        return f"-A {self.hook} -j {self.name}"


# source NAT happens on the way out; nf_nat backs the nat table of either iptables backend
FULLNAT = OwnChain("nat", "LVSDEPLOY-FULLNAT", "POSTROUTING", ("nf_nat",))
# a mark must be set before IPVS looks the packet up (LOCAL_IN): on the way in; iptables-nft keeps its tables in
# nf_tables, iptables-legacy in iptable_mangle
FWMARK = OwnChain("mangle", "LVSDEPLOY-FWMARK", "PREROUTING", ("nf_tables", "iptable_mangle"))

CHAIN = FULLNAT.name   # the FULLNAT chain's name, as the snat module's rules and the lab's checks spell it


@dataclass
class ChainFacts:
    exists: bool = False
    rules: list[str] = field(default_factory=list)   # "-A LVSDEPLOY-FULLNAT -m ipvs ... -j SNAT --to-source ..."
    jumps: int = 0                                    # how many times the hook jumps to it
    readable: bool = True                             # False: iptables is missing, nothing could be read


def chain_snippet(chain: OwnChain, wanted: bool) -> str:
    if not wanted:
        return ""
    loaded = " || ".join(f"[ -d /sys/module/{m} ]" for m in chain.modules)
    return (
        "if ! command -v iptables >/dev/null 2>&1; then echo '@noiptables'\n"
        f"elif {loaded}; then\n"
        f"  iptables -w 5 -t {chain.table} -S {chain.name} 2>/dev/null || true\n"
        f"  iptables -w 5 -t {chain.table} -S {chain.hook} 2>/dev/null | grep -x -e '{chain.jump}' || true\n"
        "fi"
    )


def parse_chain(chain: OwnChain, text: str) -> ChainFacts:
    found = ChainFacts()
    for line in text.splitlines():
        line = line.strip()
        if line == "@noiptables":
            found.readable = False
        elif line == f"-N {chain.name}":
            found.exists = True
        elif line.startswith(f"-A {chain.name} "):
            found.rules.append(line)
        elif line == chain.jump:
            found.jumps += 1
    return found


def snat_snippet(wanted: bool) -> str:
    return chain_snippet(FULLNAT, wanted)


def parse_snat(text: str) -> ChainFacts:
    return parse_chain(FULLNAT, text)
