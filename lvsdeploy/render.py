"""What people read: the plan as a review (per host, per resource, -/+ lines or a unified diff) and a recap."""

import time

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .engine import HostRun

STYLE = {"+": "green", "-": "red", "~": "yellow", "@": "cyan"}


def _without_host(run: HostRun) -> str:
    """Errors name their host already (they are also raised outside the renderer)."""
    return (run.error or "failed").removeprefix(f"{run.host.name}: ")


def diff_line(line: str) -> str:
    stripped = line.lstrip()
    style = STYLE.get(stripped[:1]) if not stripped.startswith(("+++", "---")) else "bold"
    return f"[{style}]{escape(line)}[/]" if style else escape(line)


def review(console: Console, runs: list[list[HostRun]], verbose: bool = False) -> None:
    """The plan as a review: per host, per resource, -/+ lines or a unified diff, then notes."""
    for run in (r for phase in runs for r in phase):
        if run.status == "failed":
            console.print(f"[bold red]{run.host.name}[/]: [red]{escape(_without_host(run))}[/]")
            continue
        changes = run.plan.changes
        suffix = f"  [dim]({run.round_trips} round trips)[/]" if verbose else ""
        if not changes:
            console.print(f"[bold]{run.host.name}[/]: no changes{suffix}")
            _notes(console, run)
            continue
        console.print(f"[bold]{run.host.name}[/]: {len(changes)} change{'s' * (len(changes) != 1)}{suffix}")
        for planned in changes:
            console.print(f"  [bold yellow]~ {escape(planned.change.resource)}[/]  [dim]{escape(planned.task)}[/]",
                          soft_wrap=True)
            for line in planned.change.diff:
                console.print("      " + diff_line(line), soft_wrap=True)
        for name, _ in run.plan.handlers:
            console.print(f"  [cyan]! handler: {escape(name)}[/]")
        _notes(console, run)


def _notes(console: Console, run: HostRun) -> None:
    for note in run.plan.notes:
        console.print(f"  [dim]· {escape(note)}[/]", soft_wrap=True)


def summary(runs: list[list[HostRun]]) -> str:
    flat = [r for phase in runs for r in phase]
    changing = [r for r in flat if r.plan and r.plan.changed and r.status != "failed"]
    failed = [r for r in flat if r.status == "failed"]
    total = sum(len(r.plan.changes) for r in changing)
    text = f"Plan: {total} change{'s' * (total != 1)} on {len(changing)} of {len(flat)} hosts"
    return text + (f"; {len(failed)} host{'s' * (len(failed) != 1)} failed" if failed else "")


def _clock(run: HostRun) -> str:
    """When the host's apply ran, on this machine's clock: shows the one-at-a-time order of a failover pair."""
    if run.applied is None:
        return "-"
    start, end = (time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 10) % 10}" for t in run.applied)
    return f"{start}-{end}"


def recap(console: Console, runs: list[list[HostRun]]) -> None:
    table = Table("host", "status", "changes", "round trips", "time", "applied", title="Recap")
    colours = {"ok": "green", "changed": "yellow", "failed": "red", "skipped": "dim"}
    for run in (r for phase in runs for r in phase):
        changes = len(run.plan.changes) if run.plan and run.status == "changed" else 0
        table.add_row(run.host.name, f"[{colours.get(run.status, 'white')}]{run.status}[/]", str(changes),
                      str(run.round_trips), f"{run.seconds:.1f}s", _clock(run))
    console.print(table)
    for run in (r for phase in runs for r in phase):
        if run.status in ("failed", "skipped") and run.error:
            console.print(f"[red]{escape(run.host.name)}: {escape(_without_host(run))}[/]")
