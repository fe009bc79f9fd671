"""A check, no change: the host's own name (uname -n) is the name the inventory gives it.

o2cb finds the local node in /etc/ocfs2/cluster.conf by that name; with another, o2cb cannot bring the cluster
online and the mount fails. So the plan stops here, before anything is changed, and says which names differ.
"""

from __future__ import annotations

from lvsdeploy.modules.base import Change, FactsRequest, ModuleError, check_args

NAME = "node_name"


def facts_needed(args: dict) -> FactsRequest:
    check_args(NAME, args, ("name", "why"))
    return FactsRequest()


def plan(args: dict, facts) -> list[Change]:
    check_args(NAME, args, ("name", "why"))
    if facts.hostname and facts.hostname != args["name"]:
        raise ModuleError(f"{NAME}: this host calls itself {facts.hostname!r} (uname -n) but the inventory names it "
                          f"{args['name']!r}; {args['why']}: name it {facts.hostname!r} in the inventory, or "
                          f"set its hostname to {args['name']!r}")
    return []
