"""A kernel module loaded now, and at boot (persist: a line of /etc/modules-load.d/lvsdeploy.conf)."""

from __future__ import annotations

import re

from lvsdeploy.modules.base import Change, FactsRequest, ModuleError, check_args, q

NAME = "kernel_module"

_MODULE = re.compile(r"^[A-Za-z0-9_-]+$")


def _name(args: dict) -> str:
    check_args(NAME, args, ("name",))
    name = args["name"]
    if not isinstance(name, str) or not _MODULE.match(name):
        raise ModuleError(f"{NAME}: {name!r} is not a kernel module name")
    return name.replace("-", "_")  # the kernel lists "ip_vs" whatever spelling modprobe was given


def facts_needed(args: dict) -> FactsRequest:
    _name(args)
    return FactsRequest()  # modules are always read


def plan(args: dict, facts) -> list[Change]:
    name = _name(args)
    if name in facts.modules_loaded:
        return []
    return [Change(resource=f"kernel module {name}", diff=(f"+ {name} loaded",), commands=(f"modprobe {q(name)}",))]


def persist(args: dict, facts) -> list[tuple[str, str]]:
    return [("kernel_module", _name(args))]
