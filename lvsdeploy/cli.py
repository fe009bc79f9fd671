"""The command line: parse arguments, call the stages, render output. No logic of its own."""

import argparse
import json
import os
import signal
import sys
import time
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape

from . import __version__, engine, render, render_json
from .checkers import checker_of
from .lab import cli as cli_lab
from .errors import InventoryError, did_you_mean
from .executor import APPLY_TIME_LIMIT, CONNECT_TIMEOUT, LOCK_WAIT
from .inventory import load_cluster
from .lab.errors import LabError
from .lvs import MODES
from .validate import managed_hosts

EXIT_OK, EXIT_ERROR, EXIT_CHANGED, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lvsdeploy",
                                     description="Turn one YAML inventory into a working LVS/IPVS cluster over SSH.")
    parser.add_argument("--version", action="version", version=f"lvsdeploy {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check an inventory without connecting to anything")
    p.add_argument("inventory")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json: one document on stdout, problems included (docs/json.md)")

    def engine_parser(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.add_argument("inventory")
        p.add_argument("--limit", help="comma-separated hosts or groups to work on")
        p.add_argument("--forks", type=int, default=5, help="hosts worked on in parallel (default 5)")
        p.add_argument("-v", "--verbose", action="store_true", help="round trips per host")
        p.add_argument("--connect-timeout", type=_seconds, default=CONNECT_TIMEOUT, metavar="S",
                       help=f"seconds to set up each SSH hop (default {CONNECT_TIMEOUT})")
        p.add_argument("--format", choices=("text", "json"), default="text",
                       help="json: one document on stdout (docs/json.md); apply then needs --yes")
        return p

    engine_parser("plan", "show what apply would change (exit 0: nothing, 2: changes, 1: error)")
    p = engine_parser("apply", "change the hosts to match the inventory")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument("--check", action="store_true", help="only plan (same as `lvsdeploy plan`)")
    p.add_argument("--time-limit", type=_seconds, default=APPLY_TIME_LIMIT, metavar="S",
                   help=f"seconds one host's apply may run before it is ended (default {APPLY_TIME_LIMIT})")
    p.add_argument("--lock-wait", type=_seconds, default=LOCK_WAIT, metavar="S",
                   help=f"seconds to wait for another apply holding a host (default {LOCK_WAIT})")
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 0: no change, 2: changed, 1: error")
    for name, help in (("drain", "weight 0 for a real server on every director, kept by later applies"),
                       ("undrain", "give a drained real server its inventory weight back")):
        p = engine_parser(name, help)
        p.add_argument("host", help="the real server")
        p.add_argument("--service", help="only this service (its inventory name); default: every one it is in")
        p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
        p.add_argument("--time-limit", type=_seconds, default=APPLY_TIME_LIMIT, metavar="S", help=argparse.SUPPRESS)
        p.add_argument("--lock-wait", type=_seconds, default=LOCK_WAIT, metavar="S", help=argparse.SUPPRESS)
        if name == "drain":
            p.add_argument("--wait", action="store_true", help="then wait until its active connections are 0")
            p.add_argument("--timeout", type=_seconds, default=600, metavar="S",
                           help="seconds --wait waits at most (default 600; exit 2 if connections remain)")
    p = sub.add_parser("status", help="what each director's IPVS table does now, against the inventory")
    p.add_argument("inventory")
    p.add_argument("--format", choices=("text", "json", "prometheus"), default="text")
    p.add_argument("--watch", type=_seconds, metavar="N", help="read again every N seconds (text), until Ctrl-C")
    p.add_argument("--connect-timeout", type=_seconds, default=CONNECT_TIMEOUT, metavar="S",
                   help=f"seconds to set up each SSH hop (default {CONNECT_TIMEOUT})")
    p = sub.add_parser("verify", help="run the bundled testinfra suite against the inventory's hosts")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="json: the summary as one document on stdout, pytest's report on stderr (docs/json.md)")
    p.add_argument("inventory")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="extra pytest arguments after --")
    cli_lab.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    try:
        if args.command == "lab":
            return cli_lab.run(args, console)
        if args.command == "verify":
            from .verify import run_verify
            extra = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
            return run_verify(args.inventory, extra, as_json=args.format == "json")
        cluster = load_cluster(args.inventory)
        if problems := managed_hosts(cluster):
            raise InventoryError(problems)
        for warning in cluster.warnings:
            err.print(f"[yellow]warning:[/] {escape(str(warning))}", soft_wrap=True)
        if args.command == "validate":
            if args.format == "json":
                print(json.dumps(render_json.validate_document(args.inventory, cluster, []), indent=2))
            else:
                console.print(escape(_cluster_summary(cluster)), soft_wrap=True)
            return EXIT_OK
        if args.command == "status":
            return _status(args, cluster, console)
        if args.command in ("drain", "undrain"):
            return _drain(args, cluster, console, err)
        return _plan_and_apply(args, cluster, console, err)
    except InventoryError as exc:
        if args.command == "validate" and args.format == "json":
            print(json.dumps(render_json.validate_document(args.inventory, None, exc.problems), indent=2))
            return EXIT_ERROR
        for problem in exc.problems:
            err.print(escape(str(problem)), soft_wrap=True)
        err.print(f"[red]{len(exc.problems)} problem{'s' * (len(exc.problems) != 1)}; nothing was changed.[/]")
        return EXIT_ERROR
    except LabError as exc:
        if args.debug:
            raise
        err.print(f"[red]error:[/] {escape(str(exc))}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug of ours: one line, not a traceback, unless asked for
        if args.debug:
            raise
        err.print(f"[red]internal error:[/] {escape(type(exc).__name__)}: {escape(str(exc))} "
                  "(run again with --debug for the traceback, and please report it)", soft_wrap=True)
        return EXIT_ERROR


def _status(args, cluster, console: Console) -> int:
    """Exit 0 when every director was read and matches the inventory, 2 on a mismatch, 1 when one could not be
    read (like plan: 2 means "not as the inventory says")."""
    from .status import output, read_directors
    while True:
        directors = read_directors(cluster, args.connect_timeout)
        if args.format == "json":
            print(output.as_text_json(directors))
        elif args.format == "prometheus":
            print(output.prometheus(directors), end="")
        else:
            if args.watch:
                console.clear()
            output.text(console, directors)
        if not args.watch or args.format != "text":
            break
        time.sleep(args.watch)
    if any(d.state == "unreachable" for d in directors):
        return EXIT_ERROR
    return EXIT_CHANGED if any(d.issues or d.state != "ok" for d in directors) else EXIT_OK


def _drain(args, cluster, console: Console, err: Console) -> int:
    """drain/undrain: the directors' ipvs task with this run's drain or undrain, applied like `apply --limit
    directors`, but only on directors that are otherwise as the inventory says (a drain must not carry other
    pending edits with it); then, with --wait, the real server's active connections watched down to 0."""
    from .drain import DrainError, request
    from .status import read_directors
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        entries = request(cluster, args.host, args.service, since)
    except DrainError as exc:
        err.print(f"[red]{escape(str(exc))}; nothing was changed.[/]", soft_wrap=True)
        return EXIT_ERROR
    directors = ",".join(h.name for h in cluster.directors())
    pending = engine.plan_all(cluster, args.forks, set(directors.split(",")), args.connect_timeout)
    try:
        flat = [r for phase in pending for r in phase]
        if any(r.status == "failed" or r.plan.changed for r in flat):
            render.review(err, pending)
            err.print("[red]The directors are not as the inventory says (above); apply that first, then drain. "
                      "Nothing was changed.[/]")
            return EXIT_ERROR
    finally:
        engine.close_all(pending)
    undrain = [{"service": e["service"], "dest": e["dest"]} for e in entries]
    cluster.drain_request = (entries, []) if args.command == "drain" else ([], undrain)
    run = argparse.Namespace(**{**vars(args), "command": "apply", "check": False, "detailed_exitcode": False,
                                "limit": directors})
    status = _plan_and_apply(run, cluster, console, err)
    if status != EXIT_OK or args.command == "undrain" or not args.wait:
        return status
    # progress to stderr: with --format json, stdout holds the one document
    deadline = time.monotonic() + args.timeout
    wanted = {(e["service"], e["dest"]) for e in entries}
    while True:
        read = read_directors(cluster, args.connect_timeout)
        unread = [d.name for d in read if d.state != "ok"]
        if unread:
            err.print(f"[red]cannot read {escape(', '.join(unread))}: its connections are unknown; {args.host} "
                      "stays drained[/]")
            return EXIT_ERROR
        active = sum(b.active for d in read for s in d.services for b in s.backends if (s.label, b.address) in wanted)
        err.print(f"{escape(args.host)}: {active} active connection{'s' * (active != 1)}")
        if active == 0:
            return EXIT_OK
        if time.monotonic() >= deadline:
            err.print(f"[yellow]{escape(args.host)} still has {active} active after {args.timeout} s; it stays "
                      "drained[/]")
            return EXIT_CHANGED
        time.sleep(2)


def _seconds(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 86400:
        raise argparse.ArgumentTypeError("must be between 1 and 86400 seconds")
    return value


def _ask(prompt: str) -> str:
    """The answer typed at a prompt; end of input (Ctrl-D, a closed pipe) means no."""
    try:
        return input(prompt)
    except EOFError:
        return ""


def _cluster_summary(cluster) -> str:
    lines = [f"{cluster.source}: valid"]
    lines.append(f"  directors: {', '.join(h.name for h in cluster.directors()) or '-'}")
    lines.append(f"  real servers: {', '.join(h.name for h in cluster.realservers()) or '-'}")
    lines.append(f"  storage: {', '.join(h.name for h in cluster.storage_nodes()) or '-'}")
    for svc in cluster.services:
        members = ", ".join(f"{r.host}:{r.port} w{r.weight}"
                            + (f" x{r.upper_threshold}/{r.lower_threshold or 0}" if r.upper_threshold else "")
                            for r in svc.realservers)
        flags = f" ({','.join(svc.scheduler_flags)})" if svc.scheduler_flags else ""
        marks = (f" (marks {svc.protocol} {svc.vip}:{','.join(map(str, svc.fwmark_ports))})"
                 if svc.fwmark_ports else "")
        lines.append(f"  service {svc.name}: {svc.key}{marks} {svc.mode} {svc.scheduler}{flags} -> {members}")
    if snat := [s.name for s in cluster.services if MODES[s.mode].snat_to_dip]:
        lines.append(f"  source NAT ({', '.join(snat)}): the real servers see the director's DIP as every client's "
                     "address (logs, access rules); only the director's conntrack table maps a connection back to "
                     "its client. Where the real servers need the client's address, use nat or dr")
    if cluster.directors():
        checker = checker_of(cluster)
        lines.append(f"  health checker: {checker}" + (" (nothing tests the real servers: a failed one stays in "
                                                        "rotation)" if checker == "none" else ""))
    for share in cluster.shares:
        source = share.export if share.type == "nfs" else f"{share.device} (iSCSI LUN)"
        lines.append(f"  share {share.name}: {share.type} {share.server}:{source} -> {share.mount}")
    return "\n".join(lines)


def _plan_and_apply(args, cluster, console: Console, err: Console) -> int:
    limit = {name.strip() for name in args.limit.split(",") if name.strip()} if args.limit else None
    if limit:
        known = set(cluster.hosts) | {g for h in cluster.hosts.values() for g in h.groups}
        unknown = sorted(limit - known)
        if unknown:
            hints = [f"{n}{did_you_mean(n, sorted(known))}" for n in unknown]
            err.print(f"[red]--limit names no host or group: {escape(', '.join(hints))}[/]")
            return EXIT_ERROR
    as_json = getattr(args, "format", "text") == "json"
    if as_json:   # the same steps, their text to nowhere; one document on stdout at the end
        if args.command != "plan" and not args.check and not args.yes:
            err.print("[red]--format json applies only with --yes (no prompt between the plan and the apply)[/]")
            return EXIT_ERROR
        console = Console(file=open(os.devnull, "w"), highlight=False)
    runs = engine.plan_all(cluster, args.forks, limit, args.connect_timeout)
    try:
        planned: dict = {}
        status = _plan_and_apply_runs(args, cluster, runs, console, err, planned)
        if as_json:
            document = render_json.apply_document(runs, planned) if planned else render_json.plan_document(runs)
            print(json.dumps(document, indent=2))
        return status
    finally:
        engine.close_all(runs)


def _plan_and_apply_runs(args, cluster, runs, console: Console, err: Console, planned: dict) -> int:
    """Review, confirm, apply, recap; `planned` gets the plan as it was before any apply (for --format json,
    where `console` writes nowhere and what stops the run is said on stderr)."""
    alarm = err.print if getattr(args, "format", "text") == "json" else console.print
    render.review(console, runs, args.verbose)
    console.print(render.summary(runs))
    flat = [r for phase in runs for r in phase]
    if any(r.status == "failed" for r in flat):
        alarm("[red]Planning failed; nothing was changed.[/]")
        return EXIT_ERROR
    cycle = engine.dependency_cycle(cluster, runs)
    if cycle:
        alarm(f"[red]These hosts would wait for each other in a circle: {escape(' -> '.join(cycle))} "
                      "(a director of a pair that is also a storage node or mounts a share can do this); "
                      "nothing was changed.[/]", soft_wrap=True)
        return EXIT_ERROR
    changed = any(r.plan.changed for r in flat)
    if args.command == "plan" or args.check:
        return EXIT_CHANGED if changed else EXIT_OK
    if changed and not args.yes:
        if not sys.stdin.isatty():
            alarm("[red]Refusing to apply without a terminal to confirm; pass --yes.[/]")
            return EXIT_ERROR
        if _ask("Apply these changes? [y/N] ").strip().lower() not in ("y", "yes"):
            alarm("Nothing was changed.")
            return EXIT_ERROR
    planned.update(render_json.plan_document(runs))   # the hosts are planned again after their apply
    limits = engine.ApplyLimits(args.time_limit, args.lock_wait)
    with _first_interrupt_stops(limits.stop, err):
        engine.apply_all(cluster, runs, args.forks, limits)
    render.recap(console, runs)
    if limits.stop.is_set():
        err.print("[red]Interrupted: hosts that had started finished; no other host was changed.[/]")
        return EXIT_INTERRUPTED
    if any(r.status in ("failed", "skipped") for r in flat):
        return EXIT_ERROR
    did_change = any(r.status == "changed" for r in flat)
    return EXIT_CHANGED if (did_change and args.detailed_exitcode) else EXIT_OK


@contextmanager
def _first_interrupt_stops(stop, err: Console):
    """While applying, the first Ctrl-C asks the engine to stop (no new host or phase; running ones finish, and
    their scripts run detached on the hosts anyway); the second one interrupts at once."""
    def on_interrupt(signum, frame):
        if stop.is_set():
            err.print("[red]Leaving now. Apply scripts already started finish on their hosts (they hold the "
                      "host's lock until then); run plan to see where each host ended.[/]")
            os._exit(EXIT_INTERRUPTED)   # worker threads wait on SSH; the remote work does not need us
        stop.set()
        err.print("[yellow]Stopping: hosts already applying finish; no new host starts. Ctrl-C again to leave "
                  "now (their scripts still finish on the hosts).[/]")
    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":
    sys.exit(main())
