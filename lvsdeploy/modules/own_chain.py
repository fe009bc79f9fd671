"""A netfilter chain lvsdeploy owns (facts/netfilter.OwnChain): planned as a whole, loaded in one transaction,
jumped to first from its hook, restored at boot, removed with its jump when no rule is wanted.

No other rule of the host is read, changed or reordered. The chain is loaded whole by `iptables-restore
--noflush` (there is no moment with half of it), and at boot by the same command from the network boot script.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lvsdeploy.facts.netfilter import ChainFacts, OwnChain
from lvsdeploy.modules.base import Change, FactsRequest, ModuleError, check_args, q


def rules(module: str, args: dict, render: Callable[[object], str]) -> list[str]:
    """The task's `rules` argument, each rendered as `iptables -S` prints it, each once, in order."""
    check_args(module, args, ("rules",))
    if not isinstance(args["rules"], list):
        raise ModuleError(f"{module}: rules must be a list, got {args['rules']!r}")
    return list(dict.fromkeys(render(item) for item in args["rules"]))


def iptables(chain: OwnChain) -> str:
    return f"iptables -w 10 -t {chain.table}"


def load_command(chain: OwnChain, rules: list[str]) -> str:
    """Create or replace the chain in one transaction: a declared chain is created, or flushed if it exists."""
    lines = [f"*{chain.table}", f":{chain.name} - [0:0]", *rules, "COMMIT"]
    return f"printf '%s\\n' {' '.join(q(line) for line in lines)} | iptables-restore -w 10 --noflush"


def jump_first(chain: OwnChain) -> str:
    cmd = iptables(chain)
    return f"{cmd} -C {chain.hook} -j {chain.name} 2>/dev/null || {cmd} -I {chain.hook} 1 -j {chain.name}"


def plan(chain: OwnChain, wanted: list[str], found: ChainFacts) -> list[Change]:
    if not found.readable and not wanted:
        return []   # no iptables: there can be no chain of ours (a package task before this one installs it)
    cmd, resource = iptables(chain), f"netfilter {chain.table} chain {chain.name}"
    if not wanted:
        if not found.exists and not found.jumps:
            return []
        diff = tuple(f"- {rule}" for rule in found.rules) + (f"- {chain.hook} -j {chain.name}",) * found.jumps
        commands = (f"while {cmd} -D {chain.hook} -j {chain.name} 2>/dev/null; do :; done",
                    f"if {cmd} -S {chain.name} >/dev/null 2>&1; then {cmd} -F {chain.name}; {cmd} -X {chain.name}; fi")
        return [Change(resource, diff, commands)]
    changes = []
    if not found.exists or found.rules != wanted:
        diff = tuple(f"- {r}" for r in found.rules if r not in wanted) + tuple(
            f"+ {r}" for r in wanted if r not in found.rules)
        changes.append(Change(resource, diff or ("~ rule order",), (load_command(chain, wanted),)))
    if found.jumps != 1:
        extra = (f"{cmd} -D {chain.hook} -j {chain.name}",) * max(found.jumps - 1, 0)
        diff = ((f"+ {chain.hook} -j {chain.name}",) if not found.jumps
                else (f"- {chain.hook} -j {chain.name} (x{found.jumps - 1})",))
        changes.append(Change(f"netfilter {chain.table} {chain.hook} jump to {chain.name}", diff,
                              extra + (jump_first(chain),)))
    return changes


def persist(chain: OwnChain, wanted: list[str]) -> list[tuple[str, str]]:
    """Lines of the network boot script: the chain, then the jump (both idempotent)."""
    return [("network", load_command(chain, wanted)), ("network", jump_first(chain))] if wanted else []


@dataclass(frozen=True)
class ChainTask:
    """The task functions of a module that owns `chain`: its rules rendered by `render`, its facts at
    `facts_of(facts)` (modules/snat.py, modules/fwmark_marks.py)."""

    name: str
    chain: OwnChain
    render: Callable[[object], str]
    facts_of: Callable[[object], ChainFacts]

    def facts_needed(self, args: dict) -> FactsRequest:
        rules(self.name, args, self.render)   # bad arguments are refused before anything is read
        return FactsRequest(netfilter=True)

    def plan(self, args: dict, facts) -> list[Change]:
        return plan(self.chain, rules(self.name, args, self.render), self.facts_of(facts))

    def persist(self, args: dict, facts) -> list[tuple[str, str]]:
        return persist(self.chain, rules(self.name, args, self.render))
