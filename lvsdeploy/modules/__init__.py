"""Resource modules, by task keyword.

Each module is a Python module exposing NAME, facts_needed(args) -> FactsRequest and
plan(args, facts) -> list[Change]. A module whose state does not survive a reboot by itself also exposes
persist(args, facts) -> [(kind, line)]: how it is restored at boot, collected by the boot role's boot_file
tasks (see boot_file.py). fstab.py holds helpers of `mounts`, not a task.
"""

from __future__ import annotations

from types import ModuleType

from lvsdeploy.modules import (
    boot_file,
    cluster_filesystem,
    cluster_stack_cleanup,
    command,
    corosync_restart,
    file,
    fwmark_marks,
    ip_address,
    ip_link,
    ip_route,
    ipvs,
    ipvs_timeouts,
    iscsi_logins,
    iscsi_targets,
    kernel_module,
    mounts,
    node_name,
    package,
    service,
    snat,
    sysctl,
)
from lvsdeploy.modules.base import Change, FactsRequest, ModuleError

MODULES: dict[str, ModuleType] = {
    m.NAME: m
    for m in (package, kernel_module, sysctl, file, ip_address, ip_route, ip_link, service, command, ipvs, mounts,
              boot_file, iscsi_targets, iscsi_logins, cluster_filesystem, corosync_restart, cluster_stack_cleanup,
              node_name, snat, fwmark_marks, ipvs_timeouts)
}

__all__ = ["MODULES", "Change", "FactsRequest", "ModuleError"]
