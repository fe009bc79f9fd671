"""A systemd unit enabled/disabled and started/stopped (restarts and reloads are handlers' work).

A unit that is not found is not an error at plan time: a package installed earlier in the same apply may
provide it, and systemctl then fails with a clear message if it does not.
"""

from __future__ import annotations

import re

from lvsdeploy.modules.base import (SYSTEMD_FRESH, SYSTEMD_OWED, Change, FactsRequest, ModuleError, as_bool, check_args,
                                    choice, q)

NAME = "service"

_UNIT = re.compile(r"^[A-Za-z0-9:_.@\\-]+$")

# Unit-file states (facts.UnitFact.enabled) that need no `systemctl enable`/`disable` (refused or a no-op).
SATISFIES_ENABLED = {"enabled", "enabled-runtime", "static", "alias", "indirect", "generated", "transient"}
SATISFIES_DISABLED = {"disabled", "static", "masked", "masked-runtime", "generated", "transient", "indirect"}
RUNNING = {"active", "reloading", "activating"}


def _args(args: dict) -> dict:
    check_args(NAME, args, ("name",), ("enabled", "state"))
    name = args["name"]
    if not isinstance(name, str) or not _UNIT.match(name):
        raise ModuleError(f"{NAME}: {name!r} is not a systemd unit name")
    a = {
        "name": name,
        "enabled": as_bool(NAME, "enabled", args.get("enabled")),
        "state": choice(NAME, args, "state", ("started", "stopped", None)),
    }
    if a["enabled"] is None and a["state"] is None:
        raise ModuleError(f"{NAME}: {name}: set enabled and/or state, otherwise there is nothing to do")
    return a


def facts_needed(args: dict) -> FactsRequest:
    return FactsRequest(units={_args(args)["name"]})


def plan(args: dict, facts) -> list[Change]:
    a = _args(args)
    name, unit = a["name"], facts.units.get(a["name"])
    found = unit is not None and unit.load_state != "not-found"
    enabled_now = unit.enabled if unit else ""
    active_now = unit.active if unit else "inactive"
    diff, commands = [], []

    # Nothing to disable or stop in a unit that does not exist.
    if a["enabled"] is True and enabled_now not in SATISFIES_ENABLED:
        diff += [f"- {enabled_now or 'not enabled'}", "+ enabled"]
        # --no-reload: the script reloads systemd once, at the end (see base.SYSTEMD_OWED)
        commands += [f"systemctl --no-reload enable {q(name)}", SYSTEMD_OWED]
    elif a["enabled"] is False and found and enabled_now not in SATISFIES_DISABLED:
        diff += [f"- {enabled_now}", "+ disabled"]
        commands += [f"systemctl --no-reload disable {q(name)}", SYSTEMD_OWED]

    state = a["state"]
    if state == "started" and active_now not in RUNNING:
        diff += [f"- {active_now}", "+ active"]
        commands += [SYSTEMD_FRESH, f"systemctl start {q(name)}"]
    elif state == "stopped" and found and active_now in RUNNING:
        diff += [f"- {active_now}", "+ inactive"]
        commands += [SYSTEMD_FRESH, f"systemctl stop {q(name)}"]

    return [Change(f"service {name}", tuple(diff), tuple(commands))] if commands else []
