"""The per-host plan: the roles' tasks rendered for a host, run through the modules against its facts.

Planning is pure: it reads facts and returns changes. The apply script is the plan's commands, verbatim,
so a dry run shows exactly what apply will do.
"""

import shlex
from dataclasses import dataclass, field

from .desired import host_vars
from .facts import HostFacts
from .model import Cluster, Host
from .modules import MODULES
from .modules.base import Change, FactsRequest, ModuleError
from .roles import RenderedTask, Role, RoleError, expand, roles_for

APPLY_MARK = "@@lvsapply"


@dataclass
class PlannedChange:
    task: str            # "director: virtual IPs (10.20.0.10)"
    change: Change


@dataclass
class HostPlan:
    host: str
    changes: list[PlannedChange] = field(default_factory=list)
    handlers: list[tuple[str, str]] = field(default_factory=list)   # (name, command), in role order
    error: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def script(self) -> str:
        """One POSIX sh script: every change's commands in order, markers to tell which one failed."""
        lines = ["set -eu", "export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        for i, planned in enumerate(self.changes):
            lines.append(f"echo {APPLY_MARK} {i}")
            lines.extend(planned.change.commands)
        for i, (name, command) in enumerate(self.handlers):
            lines.append(f"echo {APPLY_MARK} handler {shlex.quote(name)}")
            lines.append(command)
        lines.append(f"echo {APPLY_MARK} done")
        return "\n".join(lines) + "\n"


def _rendered_tasks(cluster: Cluster, host: Host, boot_lines: list[str]):
    """Yield (role, rendered task) in order. `boot_lines` is read lazily so later tasks see earlier ones."""
    variables = host_vars(cluster, host)
    for role in roles_for(host.groups):
        for task in role.tasks:
            variables["lvs_boot_network_lines"] = list(boot_lines)
            for rendered in expand(role, task, variables):
                yield role, rendered


def facts_request(cluster: Cluster, host: Host) -> FactsRequest:
    request = FactsRequest()
    for _, rendered in _rendered_tasks(cluster, host, []):
        request.merge(MODULES[rendered.module].facts_needed(rendered.args))
    return request


def plan_host(cluster: Cluster, host: Host, facts: HostFacts) -> HostPlan:
    plan = HostPlan(host.name)
    boot_lines: list[str] = []
    notified: set[str] = set()
    roles: dict[str, Role] = {}
    try:
        for role, rendered in _rendered_tasks(cluster, host, boot_lines):
            roles[role.name] = role
            changes = _plan_task(rendered, facts)
            module = MODULES[rendered.module]
            if hasattr(module, "boot_lines"):
                boot_lines.extend(module.boot_lines(rendered.args, facts))
            for change in changes:
                plan.changes.append(PlannedChange(rendered.label, change))
                notified.update(rendered.notify, change.notify)
    except (RoleError, ModuleError) as exc:
        plan.error = str(exc)
        return plan
    # One handler per name, however many roles define it: a reload runs once per apply.
    handlers = {n: c for role in roles.values() for n, c in role.handlers.items()}
    plan.handlers.extend((n, c) for n, c in handlers.items() if n in notified)
    unknown = notified - {n for n, _ in plan.handlers}
    if unknown:
        plan.error = f"notified handlers that no role defines: {', '.join(sorted(unknown))}"
    return plan


def _plan_task(rendered: RenderedTask, facts: HostFacts) -> list[Change]:
    try:
        return MODULES[rendered.module].plan(rendered.args, facts)
    except ModuleError as exc:
        raise ModuleError(f"{rendered.label}: {exc}") from None
