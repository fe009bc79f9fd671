"""Resource modules, by task keyword.

Each module is a Python module exposing NAME, facts_needed(args) -> FactsRequest and
plan(args, facts) -> list[Change]; the network ones (ip_address, ip_route, ip_link) also expose
boot_lines(args, facts) -> list[str] for the boot-time script.
"""

from __future__ import annotations

from types import ModuleType

from lvsdeploy.modules import (
    command,
    file,
    ip_address,
    ip_link,
    ip_route,
    ipvs,
    kernel_module,
    mount,
    mounts,
    package,
    service,
    sysctl,
)
from lvsdeploy.modules.base import Change, FactsRequest, ModuleError

MODULES: dict[str, ModuleType] = {
    m.NAME: m
    for m in (package, kernel_module, sysctl, file, ip_address, ip_route, ip_link, service, command, ipvs, mount, mounts)
}

__all__ = ["MODULES", "Change", "FactsRequest", "ModuleError"]
