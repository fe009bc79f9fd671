"""lvsdeploy's own netfilter chain (FULLNAT's source NAT): its rules and the jumps into it, as `iptables -S`
prints them. Only this chain and the jumps to it are read; every other rule of the host is none of our business.

Read only when a task asks (FactsRequest.netfilter), and only when nf_nat is loaded: a nat table of either
iptables backend needs it, so without it there can be no chain, and listing could load the nat table (and
connection tracking with it) on a host that had none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CHAIN = "LVSDEPLOY-FULLNAT"   # in the nat table; lvsdeploy writes no other rule anywhere
HOOK = "POSTROUTING"          # the built-in chain that jumps to it: source NAT happens on the way out
JUMP = f"-A {HOOK} -j {CHAIN}"


@dataclass
class SnatChain:
    exists: bool = False
    rules: list[str] = field(default_factory=list)   # "-A LVSDEPLOY-FULLNAT -m ipvs ... -j SNAT --to-source ..."
    jumps: int = 0                                    # how many times POSTROUTING jumps to it
    readable: bool = True                             # False: iptables is missing, nothing could be read


def snat_snippet(wanted: bool) -> str:
    if not wanted:
        return ""
    return (
        "if ! command -v iptables >/dev/null 2>&1; then echo '@noiptables'\n"
        "elif [ -d /sys/module/nf_nat ]; then\n"
        f"  iptables -w 5 -t nat -S {CHAIN} 2>/dev/null || true\n"
        f"  iptables -w 5 -t nat -S {HOOK} 2>/dev/null | grep -x -e '{JUMP}' || true\n"
        "fi"
    )


def parse_snat(text: str) -> SnatChain:
    chain = SnatChain()
    for line in text.splitlines():
        line = line.strip()
        if line == "@noiptables":
            chain.readable = False
        elif line == f"-N {CHAIN}":
            chain.exists = True
        elif line.startswith(f"-A {CHAIN} "):
            chain.rules.append(line)
        elif line == JUMP:
            chain.jumps += 1
    return chain
