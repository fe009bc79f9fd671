"""Facts, then a plan, then one apply: the stages over all hosts, in parallel where safe.

Every host's facts are read at once. Applying keeps one safety order: a share's clients wait for its server
(the export exists before the mount) and a director waits for the real servers of its services (they are
ready before the VIP is announced for them). Phases (storage, real servers, directors) say which of two
related hosts goes first; nothing else waits: a host starts as soon as the hosts it depends on are done. A
failed host stops only the hosts that depend on it. Two or more directors (failover) are changed one at a time,
backups first and the director holding the VIPs last, so one of them always serves: a failure stops the rest.
A stop request (the first Ctrl-C) starts no new host; hosts already applying finish (their scripts run detached
on the hosts anyway).
"""

import threading
import time
from ipaddress import IPv4Address
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from . import facts as facts_pkg
from . import failover
from .executor import (APPLY_TIME_LIMIT, CONNECT_TIMEOUT, EXIT_LOCKED, EXIT_TIMED_OUT, LOCK_WAIT, TIMED_OUT_TEXT,
                       HostSession, RemoteError, connect, holder_text)
from .facts import gather
from .lvs import MODES
from .model import Cluster, Host
from .plan import (APPLY_MARK, EXIT_STALE, READBACK_MARK, HostPlan, HostTasks, facts_request, host_tasks, plan_host,
                   reads_facts)

PHASES = ("storage", "realservers", "directors")


@dataclass
class HostRun:
    host: Host
    session: HostSession | None = None
    tasks: HostTasks | None = None   # rendered once; planned before the apply and again after it
    plan: HostPlan | None = None
    status: str = "pending"          # ok | changed | failed | skipped
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0
    holds_floating: bool = False     # holds a VIP (or the NAT gateway) now: with failover, the master
    runs_vrrp: bool = False          # its keepalived.conf has lvsdeploy's VRRP instance already
    applied: tuple[float, float] | None = None   # wall-clock start and end of its apply (the recap shows them)

    @property
    def round_trips(self) -> int:
        return self.session.round_trips if self.session else 0


def phases(cluster: Cluster, limit: set[str] | None = None) -> list[list[Host]]:
    """Managed hosts per phase; a host in several groups runs in its first phase only."""
    seen: set[str] = set()
    result = []
    for group in PHASES:
        hosts = [h for h in cluster.hosts.values() if group in h.groups and h.name not in seen
                 and (not limit or h.name in limit or limit & h.groups)]
        seen.update(h.name for h in hosts)
        result.append(sorted(hosts, key=lambda h: h.name))
    return result


def read_facts(session: HostSession, request) -> facts_pkg.HostFacts:
    result = session.run_script(gather.build_command(request))
    if result.exit_status != 0:
        raise RemoteError(f"{session.host.name}: reading facts failed (exit {result.exit_status}): "
                          f"{result.stderr.strip()[-500:]}")
    return gather.parse(result.stdout)


def _plan_one(cluster: Cluster, run: HostRun, connect_timeout: float) -> HostRun:
    try:
        run.tasks = host_tasks(cluster, run.host)
        if run.tasks.error:   # a role that cannot be rendered fails before any connection
            run.plan = HostPlan(run.host.name, error=run.tasks.error)
            run.status, run.error = "failed", run.tasks.error
            return run
        run.session = connect(run.host, connect_timeout)
        facts = read_facts(run.session, facts_request(run.tasks))
        if reads_facts(run.host):
            run.tasks = host_tasks(cluster, run.host, facts)
        run.holds_floating = any(facts.interface_with(IPv4Address(ip)) for ip in failover.floating_addresses(cluster))
        run.runs_vrrp = failover.runs_vrrp(facts)
        run.plan = plan_host(run.tasks, facts)
        if run.plan.error:
            run.status, run.error = "failed", run.plan.error
    except RemoteError as exc:
        run.status, run.error = "failed", str(exc)
    except Exception as exc:  # a role or module error surfaces as a failed host, not a traceback
        run.status, run.error = "failed", f"{run.host.name}: {type(exc).__name__}: {exc}"
    run.seconds = time.monotonic() - run.started
    return run


def plan_all(cluster: Cluster, forks: int = 5, limit: set[str] | None = None,
             connect_timeout: float = CONNECT_TIMEOUT) -> list[list[HostRun]]:
    """Every host's facts at once (all phases in parallel: reading changes nothing), then its plan."""
    runs = [[HostRun(h) for h in phase] for phase in phases(cluster, limit)]
    flat = [r for phase in runs for r in phase]
    if flat:
        with ThreadPoolExecutor(max(1, min(forks, len(flat)))) as pool:
            list(pool.map(lambda r: _plan_one(cluster, r, connect_timeout), flat))
    return runs


@dataclass
class ApplyLimits:
    time_limit: float = APPLY_TIME_LIMIT   # seconds one host's apply script may run
    lock_wait: float = LOCK_WAIT           # seconds to wait for another apply holding a host
    stop: threading.Event = field(default_factory=threading.Event)   # set: start no new host or phase


def _apply_one(cluster: Cluster, run: HostRun, limits: ApplyLimits) -> HostRun:
    started = time.monotonic()
    if limits.stop.is_set():
        run.status, run.error = "skipped", "interrupted before this host started"
        return run
    wall = time.time()
    try:
        if run.plan.changed:
            request = facts_request(run.tasks)
            script = run.plan.script(readback=gather.build_command(request))
            result = run.session.run_apply(script, holder_text(), limits.time_limit, limits.lock_wait)
            if result.exit_status != 0:
                run.status, run.error = "failed", _failure_text(run.plan, result)
                return run
            # Converged means: the same plan against the facts read after the changes has nothing left to do.
            # The apply script read them (2 round trips per changed host); a host that printed none is read again.
            _, marked, readback = result.stdout.partition(f"{READBACK_MARK}\n")
            after_facts = gather.parse(readback) if marked else read_facts(run.session, request)
            after = plan_host(run.tasks, after_facts)
            if after.error or after.changed:
                left = ", ".join(c.change.resource for c in after.changes) or after.error
                run.status, run.error = "failed", f"{run.host.name}: did not converge; still to change: {left}"
                return run
            run.status = "changed"
        else:
            run.status = "ok"
    except RemoteError as exc:
        run.status, run.error = "failed", str(exc)
    except Exception as exc:  # a host's failure is reported in the recap, never as a traceback
        run.status, run.error = "failed", f"{run.host.name}: {type(exc).__name__}: {exc}"
    finally:
        run.seconds += time.monotonic() - started
        run.applied = (wall, time.time())
    return run


def _failure_text(plan: HostPlan, result) -> str:
    """Why the script stopped: the lock, the time limit, a stale plan, or the change whose commands failed
    (from the last marker the script printed)."""
    stdout, stderr = result.stdout, result.stderr
    said = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    marks = [line.split()[1:] for line in stdout.splitlines() if line.startswith(APPLY_MARK)]
    # the lock and the guards come before the first marker, and say so: a command of the script that happens
    # to exit 75 or 76 after changes ran is a failed change like any other
    if not marks and result.exit_status == EXIT_LOCKED and "another apply holds this host" in said:
        return f"{plan.host}: not applied: {said.removeprefix('lvsdeploy: ')} (waited for the host's lock)"
    if not marks and result.exit_status == EXIT_STALE and "changed since the plan was made" in said:
        return f"{plan.host}: nothing was changed: {said.removeprefix('lvsdeploy: ')}"
    timed_out = result.exit_status == EXIT_TIMED_OUT and TIMED_OUT_TEXT in said
    where = "before the first change"
    if marks:
        last = marks[-1]
        if last[0] == "handler":
            where = f"handler {' '.join(last[1:])}"
        elif last[0] == "systemd":
            where = "the reload of systemd after the last change (systemctl daemon-reload)"
        elif last[0] in ("done", "readback"):
            where = "the end of the script (every change ran; the session did not end cleanly)"
        else:
            planned = plan.changes[int(last[0])]
            where = f"change {planned.change.resource} ({planned.task})"
    output = "\n".join(l for l in (stdout + stderr).splitlines() if not l.startswith(APPLY_MARK))
    if timed_out:
        return f"{plan.host}: ended by the time limit during {where}:\n{output.strip()[-1500:]}"
    return f"{plan.host}: failed at {where}:\n{output.strip()[-1500:]}"


def depends_on(cluster: Cluster, host: Host) -> set[str]:
    """The hosts whose apply must be done before this host's starts: the servers of the shares it mounts, and
    for a director the real servers of the virtual services (they are ready before it announces the VIPs).
    With failover, NAT real servers come after the directors instead: their new default gateway is an address
    the master holds once keepalived runs there (see `gateway_first`)."""
    needs = {share.server for share in cluster.shares if host.name in (share.clients or [])}
    if "directors" in host.groups:
        needs |= {rs.host for service in cluster.services for rs in service.realservers} - gateway_first(cluster)
    return needs - {host.name}


def gateway_first(cluster: Cluster) -> set[str]:
    """The real servers that wait for the directors: NAT ones, when the directors fail over."""
    if not failover.enabled(cluster):
        return set()
    return {rs.host for service in cluster.services if MODES[service.mode].gateway_via_dip
            for rs in service.realservers}


def rolling(cluster: Cluster, by_name: dict[str, HostRun]) -> dict[str, str]:
    """director -> the director whose apply must be done before its own starts (failover only): one at a time,
    in failover.rolling_order, among the directors this run works on."""
    if not failover.enabled(cluster):
        return {}
    holders = {name for name, run in by_name.items() if run.holds_floating}
    joining = {name for name, run in by_name.items() if not run.runs_vrrp}
    order = [name for name in failover.rolling_order(cluster, holders, joining) if name in by_name]
    return dict(zip(order[1:], order))


def waits(cluster: Cluster, runs: list[list[HostRun]]) -> dict[str, list[str]]:
    """host -> the hosts of this run whose apply must be done before its own starts."""
    phase_of = {r.host.name: i for i, phase in enumerate(runs) for r in phase}
    by_name = {r.host.name: r for phase in runs for r in phase}
    # only earlier phases: two hosts of one phase never wait for each other (a host in several groups runs in
    # its first phase, and a dependency outside --limit is not applied by this run)
    waits_for = {name: sorted(d for d in depends_on(cluster, run.host) if phase_of.get(d, len(runs)) < phase_of[name])
                 for name, run in by_name.items()}
    # but directors of a pair go one at a time, and NAT real servers of a pair after them
    for name, previous in rolling(cluster, by_name).items():
        waits_for[name].append(previous)
    directors = [name for name, run in by_name.items() if run.host.is_director]
    for name in gateway_first(cluster) & set(by_name):
        waits_for[name] += [d for d in directors if d != name]
    return waits_for


def dependency_cycle(cluster: Cluster, runs: list[list[HostRun]]) -> list[str] | None:
    """A chain of hosts that wait for each other in a circle (a director of a pair that is also a storage node or a
    share client can make one), or None. Checked before anything is applied."""
    waits_for = waits(cluster, runs)
    state: dict[str, int] = {}   # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = 1
        here = path + [name]
        for other in waits_for.get(name, []):
            if state.get(other) == 1:
                return here[here.index(other):] + [other]
            if other not in state:
                found = visit(other, here)
                if found:
                    return found
        state[name] = 2
        return None

    for name in waits_for:
        if name not in state:
            found = visit(name, [])
            if found:
                return found
    return None


def apply_all(cluster: Cluster, runs: list[list[HostRun]], forks: int = 5, limits: ApplyLimits | None = None) -> None:
    """Apply every pending host as soon as the hosts it depends on (in earlier phases) are done. A host whose
    dependency failed or was skipped is skipped, and so is every host not started when a stop is requested."""
    limits = limits or ApplyLimits()
    by_name = {r.host.name: r for phase in runs for r in phase}
    waits_for = waits(cluster, runs)
    todo = [r for phase in runs for r in phase if r.status == "pending"]
    running = {}
    with ThreadPoolExecutor(max(1, min(forks, len(todo) or 1))) as pool:
        while todo or running:
            for run in list(todo):
                blockers = [by_name[d] for d in waits_for[run.host.name]]
                stopped = [b.host.name for b in blockers if b.status in ("failed", "skipped")]
                if stopped or limits.stop.is_set():
                    todo.remove(run)
                    run.status = "skipped"
                    run.error = ("interrupted before this host started" if limits.stop.is_set()
                                 else f"not applied: {', '.join(stopped)}, which it depends on, did not apply")
                elif all(b.status in ("ok", "changed") for b in blockers):
                    todo.remove(run)
                    running[pool.submit(_apply_one, cluster, run, limits)] = run
            if running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    running.pop(future)
                    future.result()   # _apply_one reports a host's failure in its run; anything else is a bug
            elif todo:   # cannot happen: dependencies point to earlier phases or, for directors, along one chain
                raise RuntimeError(f"no host can start: {', '.join(r.host.name for r in todo)}")


def close_all(runs: list[list[HostRun]]) -> None:
    for run in (r for phase in runs for r in phase):
        if run.session:
            run.session.close()
