"""The per-host plan: the roles' tasks rendered for a host, run through the modules against its facts.

Planning is pure: it reads facts and returns changes. The apply script is the plan's commands, verbatim,
so a dry run shows exactly what apply will do. A host's tasks are rendered once (`host_tasks`) and planned
against the facts read before the apply and again, for the convergence check, against those read after.
"""

import shlex
from dataclasses import dataclass, field

from . import drain
from .desired import host_vars
from .facts import HostFacts
from .model import Cluster, Host
from .modules import MODULES, boot_file
from .modules.base import SYSTEMD_FUNCTIONS, SYSTEMD_SETTLE, Change, FactsRequest, ModuleError
from .roles import RenderedTask, RoleError, expand, roles_for

APPLY_MARK = "@@lvsapply"
EXIT_STALE = 76   # the apply script's status when the host changed since the plan was made (nothing changed)
READBACK_MARK = f"{APPLY_MARK} readback"   # what follows it in the apply's output is the facts read afterwards


@dataclass
class PlannedChange:
    task: str            # "director: virtual IPs (10.20.0.10)"
    change: Change


@dataclass
class HostTasks:
    """A host's tasks, rendered from its roles, in order, and the handlers those roles define."""

    host: str
    tasks: list[RenderedTask] = field(default_factory=list)
    handlers: dict[str, str] = field(default_factory=dict)   # name -> command; one per name across roles
    error: str | None = None


@dataclass
class HostPlan:
    host: str
    changes: list[PlannedChange] = field(default_factory=list)
    handlers: list[tuple[str, str]] = field(default_factory=list)   # (name, command), in role order
    error: str | None = None
    notes: list[str] = field(default_factory=list)   # what plan says but does not change ("not managed")

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def script(self, readback: str = "") -> str:
        """One POSIX sh script: first the guards (is the host still what the plan was made against?), then every
        change's commands in order, with markers to tell which one failed; then, if given, the facts command
        `readback`, so that the convergence check costs no round trip of its own."""
        lines = ["set -eu", "export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                 "lvs_stale="]
        guarded = {(p.change.resource, g) for p in self.changes for g in p.change.guards}
        for resource, guard in sorted(guarded):
            lines.append(f"{guard} || lvs_stale=\"$lvs_stale, \"{shlex.quote(resource)}")
        lines.append('if [ -n "$lvs_stale" ]; then echo "lvsdeploy: changed since the plan was made'
                     f' (${{lvs_stale#, }}); run plan again" >&2; exit {EXIT_STALE}; fi')
        lines.extend(SYSTEMD_FUNCTIONS)
        for i, planned in enumerate(self.changes):
            lines.append(f"echo {APPLY_MARK} {i}")
            lines.extend(planned.change.commands)
        if self.changes:   # the one reload the changes left owed, before handlers and the read-back look at systemd
            lines += [f"echo {APPLY_MARK} systemd", SYSTEMD_SETTLE]
        for i, (name, command) in enumerate(self.handlers):
            lines.append(f"echo {APPLY_MARK} handler {shlex.quote(name)}")
            lines.append(command)
        lines.append(f"echo {APPLY_MARK} done")
        if readback:   # read-only, and not under set -e: a reader that finds nothing is not a failed apply
            lines += [f"echo {READBACK_MARK}", "set +eu", readback.rstrip("\n")]
        return "\n".join(lines) + "\n"


def host_tasks(cluster: Cluster, host: Host, facts: HostFacts | None = None) -> HostTasks:
    """Render every task of the host's roles once; a role that cannot be rendered is the host's error. With the
    host's facts, the few variables drawn from them are set too (reads_facts says which hosts have any)."""
    result = HostTasks(host.name)
    try:
        roles = roles_for(host.groups)
        # As in Ansible, a role's defaults are seen by the roles after it (boot persists the director's
        # lvs_ipvs_rules_file); the host's own variables beat every default.
        defaults = {k: v for role in roles for k, v in role.defaults.items()}
        variables = {**defaults, **host_vars(cluster, host),
                     **(drain.checker_vars(cluster, host, facts.files) if facts is not None else {})}
        for role in roles:
            for task in role.tasks:
                result.tasks.extend(expand(role, task, variables))
            for name, command in role.handlers.items():
                result.handlers.setdefault(name, command)
    except RoleError as exc:
        result.error = str(exc)
    return result


def reads_facts(host: Host) -> bool:
    """A director whose health checker keeps the services: its checker's configuration gives a drained real
    server weight 0, and the drains are on the director (a local second rendering, no second round trip)."""
    return host.is_director and host.health_checker != "none"


def facts_request(tasks: HostTasks) -> FactsRequest:
    request = FactsRequest()
    for rendered in tasks.tasks:
        request.merge(MODULES[rendered.module].facts_needed(rendered.args))
    return request


def plan_host(tasks: HostTasks, facts: HostFacts) -> HostPlan:
    plan = HostPlan(tasks.host, error=tasks.error)
    if tasks.error:
        return plan
    persisted: dict[str, list[str]] = {}   # kind -> lines, what the tasks so far restore at boot
    notified: set[str] = set()
    try:
        for rendered in tasks.tasks:
            for change in _plan_task(rendered, facts, persisted):
                plan.changes.append(PlannedChange(rendered.label, change))
                notified.update(rendered.notify, change.notify)
            module = MODULES[rendered.module]
            if hasattr(module, "notes"):
                plan.notes.extend(module.notes(rendered.args, facts))
    except ModuleError as exc:
        plan.error = str(exc)
        return plan
    # One handler per name, however many roles define it: a reload runs once per apply.
    plan.handlers.extend((n, c) for n, c in tasks.handlers.items() if n in notified)
    unknown = notified - set(tasks.handlers)
    if unknown:
        plan.error = f"notified handlers that no role defines: {', '.join(sorted(unknown))}"
    return plan


def _plan_task(rendered: RenderedTask, facts: HostFacts, persisted: dict[str, list[str]]) -> list[Change]:
    module = MODULES[rendered.module]
    try:
        if module is boot_file:
            return boot_file.plan(rendered.args, facts, persisted)
        changes = module.plan(rendered.args, facts)
        if hasattr(module, "persist"):
            for kind, line in module.persist(rendered.args, facts):
                persisted.setdefault(kind, []).append(line)
        return changes
    except ModuleError as exc:
        raise ModuleError(f"{rendered.label}: {exc}") from None
