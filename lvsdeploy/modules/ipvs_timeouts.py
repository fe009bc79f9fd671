"""IPVS's connection timeouts (`ipvsadm --set TCP TCPFIN UDP`), and at boot (a line of the network boot script).

Only the timeouts the inventory sets are compared and written; ipvsadm leaves a 0 as it is.
"""

from __future__ import annotations

from lvsdeploy.facts.ipvs import TIMEOUT_NAMES
from lvsdeploy.modules.base import Change, FactsRequest, ModuleError, check_args

NAME = "ipvs_timeouts"
MAX = 2147483   # the kernel refuses more than INT_MAX / HZ seconds (HZ is at most 1000)


def _args(args: dict) -> dict[str, int]:
    check_args(NAME, args, (), TIMEOUT_NAMES)
    wanted = {}
    for key in TIMEOUT_NAMES:
        value = args.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX:
            raise ModuleError(f"{NAME}: {key} must be a number of seconds between 1 and {MAX}, got {value!r}")
        wanted[key] = value
    return wanted


def command(wanted: dict[str, int]) -> str:
    return "ipvsadm --set " + " ".join(str(wanted.get(key, 0)) for key in TIMEOUT_NAMES)


def facts_needed(args: dict) -> FactsRequest:
    _args(args)
    return FactsRequest()   # read whenever ip_vs is loaded


def plan(args: dict, facts) -> list[Change]:
    wanted = _args(args)
    current = facts.ipvs_timeouts or {}
    differ = {k: v for k, v in wanted.items() if current.get(k) != v}
    if not differ:
        return []
    # unknown (ip_vs loaded by an earlier task of this script): written all the same
    diff = tuple(f"~ {k}: {current.get(k, '<unknown>')} -> {v}" for k, v in differ.items())
    return [Change("ipvs timeouts", diff, (command(wanted),))]


def persist(args: dict, facts) -> list[tuple[str, str]]:
    wanted = _args(args)
    return [("network", command(wanted))] if wanted else []
