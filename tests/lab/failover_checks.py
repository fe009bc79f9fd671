"""Director failover on a lab (issue: the VIP survives the loss of a director), run from flow.py on the DR and NAT
labs, which boot a second director (director2) for it.

Each story runs under the client's request loop (10 requests/s, health_checks.RequestLoop) and measures what the
client sees: the longest stretch without an answered request, failed requests, a long download through the VIP
across the takeover. Figures go to the test output and to ~/.cache/lvsdeploy/results/failover.txt.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

from rich.console import Console

from lvsdeploy.lab import control
from lvsdeploy.lab.inventory import LAB_FAILOVER
from lvsdeploy.verify.checks import KEEPALIVED_JOURNAL, vrrp_transitions

from . import health_checks
from .health_checks import REQUEST_TIMEOUT, RequestLoop, TableWatch
from .lab import address, cli, cli_json, edited_inventory, ssh

DIRECTORS = ("director1", "director2")
TAKEOVER_WITHIN = 3.0          # the bound: the VIP answers from the backup within 3 s
FORMING_WITHIN = TAKEOVER_WITHIN + 2.0   # a single director becoming a pair: one election, keepalived starting
PREEMPT_DELAY = LAB_FAILOVER["preempt_delay"]
SPLIT_BRAIN_WITHIN = 5.0       # two holders at once: tolerated for a joining director's first adverts, no longer
BIG = "/var/www/html/big"      # 16 MB, downloaded at 1 MB/s: a connection open for 16 s
BIG_BYTES = 16000000


def record(line: str) -> None:
    health_checks.record(line, "failover.txt")


def holders(lab: str, vip: str, among=DIRECTORS) -> list[str]:
    """The directors holding `vip` now (a powered-off one holds nothing)."""
    found = []
    for host in among:
        if control.require(lab).runtime(host).pid() is None:
            continue
        if ssh(lab, host, f"ip -o -4 addr show to {vip}").stdout.strip():
            found.append(host)
    return found


def master_and_backup(lab: str, vip: str) -> tuple[str, str]:
    held = holders(lab, vip)
    assert len(held) == 1, f"exactly one director must hold {vip}: {held}"
    return held[0], next(d for d in DIRECTORS if d != held[0])


def address_watch(lab: str, host: str, vip: str, present: bool = True, polls: int = 1800) -> TableWatch:
    return TableWatch(lab, '[ -n "$t" ]' if present else '[ -z "$t" ]', host=host,
                      read=f"ip -o -4 addr show to {vip}", polls=polls)


def quiet_window(loop: RequestLoop, since: float, until: float) -> tuple[float, float]:
    """(start, end) of the longest time in [since, until] between two answers arriving at the client: when the VIP
    did not answer (10 requests a second: 0.1 s long when all is well)."""
    answered = sorted(t for t in loop.answers if since <= t <= until)
    edges = [since, *answered, until]
    return max(zip(edges, edges[1:]), key=lambda pair: pair[1] - pair[0])


def longest_silence(loop: RequestLoop, since: float, until: float) -> float:
    start, end = quiet_window(loop, since, until)
    return end - start


def recap_windows(output: str) -> dict[str, tuple[str, str]]:
    """host -> (start, end) of its apply, from the recap's "applied" column (HH:MM:SS-HH:MM:SS)."""
    windows = {}
    for line in output.split("Recap")[-1].splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        match = re.fullmatch(r"(\d\d:\d\d:\d\d\.\d)-(\d\d:\d\d:\d\d\.\d)", cells[-1]) if cells else None
        if match:
            windows[cells[0]] = match.groups()
    return windows


def keepalived_transitions(lab: str, host: str) -> list[tuple[float, str]]:
    """(seconds since the guest booted, "BACKUP"/"MASTER"/"FAULT") of the VRRP instance since keepalived last
    started, as verify reads them (monotonic, this boot only: CI once saw a drifted guest clock put the previous
    boot's entries after this start)."""
    return vrrp_transitions(ssh(lab, host, KEEPALIVED_JOURNAL, check=False).stdout)


def _apply_under_loop(lab: str, vip: str, inventory: Path, what: str):
    loop = RequestLoop(lab, vip, 1800)   # stopped 2 s after the apply, however long it took
    time.sleep(2)
    started = time.monotonic()
    result = cli("apply", "--yes", str(inventory))
    assert result.returncode == 0, f"apply ({what}) failed"
    ended = time.monotonic()
    time.sleep(2)
    loop.stop()
    silence = longest_silence(loop, started, ended)
    return result, loop, silence


# ---- the stories -----------------------------------------------------------------------------------------------

def pair_applied_one_director_at_a_time(lab, name: str, inventory: Path) -> None:
    """The lab's single director becomes a pair (keepalived: VRRP, sync, checks) under the request loop, no request
    failing. The recap's clock shows the directors changed one after the other, the single director first (it is
    elected at once and keeps the VIPs; see failover.rolling_order); then plan is empty and verify names the
    master."""
    vip = lab.topology.vip
    result, loop, silence = _apply_under_loop(name, vip, inventory, "single director to a failover pair")
    windows = recap_windows(result.stdout)
    assert set(DIRECTORS) <= set(windows), f"the recap must show both directors' apply times: {windows}"
    first, second = sorted(DIRECTORS, key=lambda d: windows[d][0])
    record(f"{name} pair from a single director: {first} {windows[first][0]}-{windows[first][1]}, then {second} "
           f"{windows[second][0]}-{windows[second][1]}; {loop}, longest silence {silence:.1f} s")
    assert windows[first][0] < windows[second][0] and windows[first][1] <= windows[second][0], \
        f"the directors' applies overlap: {windows}"
    # director1 held the VIPs without VRRP: it goes first and is elected; director2 (lower priority) joins
    # as backup. keepalived starting clears the addresses it manages and adds them back once elected
    # (vrrp_scheduler.c, "BACKUP STATE (init)"): forming the pair costs about one takeover, plus keepalived's
    # start under TCG.
    assert first == "director1", "the single director must be changed first"
    assert silence <= FORMING_WITHIN, f"the VIP did not answer for {silence:.1f} s while the pair formed"
    failed_at = [begun for begun, ok in loop.results if not ok]
    assert not failed_at or max(failed_at) - min(failed_at) <= FORMING_WITHIN, "requests failed beyond one outage"
    _settled(name, vip, "director1", inventory)


def _settled(name: str, vip: str, master: str, inventory: Path) -> None:
    """`master` holds the VIP (within preempt_delay and a margin), plan is empty, verify passes and names it."""
    watch = address_watch(name, master, vip, polls=int((PREEMPT_DELAY + 30) * 10))
    assert watch.wait() is not None, f"{master} never took {vip}"
    # the director giving the VIP up drops it when the new master's first advert reaches it, so a look taken the
    # moment `master` added it can see both (seen at the pair forming and after the reboots, one sample long):
    # wait that out, say how long it was, and fail if it lasts
    since, held = time.monotonic(), holders(name, vip)
    while held != [master] and time.monotonic() - since < SPLIT_BRAIN_WITHIN:
        time.sleep(0.2)
        held = holders(name, vip)
    if time.monotonic() - since > 0.5:
        record(f"{name} {vip} was held by more than {master} for {time.monotonic() - since:.1f} s after it was settled")
    assert held == [master], f"only {master} may hold {vip}, still after {SPLIT_BRAIN_WITHIN} s: {held}"
    plan = cli("plan", str(inventory))
    assert plan.returncode == 0 and "Plan: 0 changes" in plan.stdout, "a healthy pair must plan no change"
    verify = cli("verify", str(inventory))
    assert verify.returncode == 0 and f"{master} is master" in verify.stdout
    # status: each director's VRRP state, and the VIP held by the master only
    status = cli_json("status", "--format", "json", str(inventory))
    directors = {d["name"]: d for d in json.loads(status.stdout)["directors"]}
    assert {n: d["vrrp_state"] for n, d in directors.items()} == {
        n: "MASTER" if n == master else "BACKUP" for n in DIRECTORS}, directors
    held = {n: [s["vip_here"] for s in d["services"] if s["vip_here"] is not None] for n, d in directors.items()}
    assert all(all(v) if n == master else not any(v) for n, v in held.items()), held


DOWNLOAD_PORT = 40123   # the download's own client port, so that its connection is told from the loop's


def _start_download(name: str, vip: str) -> subprocess.Popen:
    for rs in ("rs1", "rs2"):
        ssh(name, rs, f"head -c {BIG_BYTES} /dev/zero > {BIG}")
    return subprocess.Popen(control.ssh_argv(name, "client", [
        f"curl -s -o /dev/null -w '%{{http_code}} %{{size_download}}' --limit-rate 1000k --max-time 90 "
        f"--local-port {DOWNLOAD_PORT} http://{vip}/big"]), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        text=True)


def _synced_entry(lab, name: str, backup: str, vip: str) -> str:
    """The download's connection as the backup's sync daemon received it (polled: the master sends it after a
    few packets)."""
    client = address(lab, "client", "lvs_client_ip")
    for _ in range(50):
        entries = [line for line in ssh(name, backup, "ipvsadm -Lnc").stdout.splitlines()
                   if "ESTABLISHED" in line and f" {client}:{DOWNLOAD_PORT} " in line and f"{vip}:80" in line]
        if entries:
            return entries[0]
        time.sleep(0.2)
    raise AssertionError(f"{backup} never received the download's connection from the master's sync daemon")


def master_lost(lab, name: str, inventory: Path, how: str) -> tuple[str, str]:
    """The master is lost (`how`: "poweroff", the plug pulled; or "stop", keepalived stopped) while a download
    runs through it and the loop asks 10 times a second: the backup holds the VIP within 3 s, the client is
    answered again within 3 s, no more requests fail than were sent in that gap, and the download (its connection
    synced to the backup beforehand, shown) completes. Returns (old master, new master)."""
    vip = lab.topology.vip
    master, backup = master_and_backup(name, vip)
    download = _start_download(name, vip)
    loop = RequestLoop(name, vip, 30)
    time.sleep(3)
    entry = _synced_entry(lab, name, backup, vip)
    watch = address_watch(name, backup, vip)
    time.sleep(1)   # the watch is polling
    lost = time.monotonic()
    if how == "poweroff":
        control.poweroff(Console(), name, master)
    else:
        ssh(name, master, "systemctl stop keepalived")
    taken = watch.wait()
    loop.finish()
    fetched = download.communicate(timeout=120)[0].split()
    assert taken is not None, f"{backup} never took {vip}"
    quiet_from, quiet_until = quiet_window(loop, lost - 1, lost + 10)   # the loop runs 25 s past the loss
    quiet = quiet_until - quiet_from
    before = loop.failed(until=lost - REQUEST_TIMEOUT - 0.5)   # requests in flight at the loss may die with it
    # the requests that could fail: sent while the VIP was silent, or in flight when it fell silent
    in_gap = loop.started(quiet_from - REQUEST_TIMEOUT, quiet_until)
    record(f"{name} master {master} lost ({how}): {backup} held {vip} {taken - lost:.2f} s later; longest silence "
           f"{quiet:.2f} s; {loop}, {before} failed before the loss, {in_gap} sent in the gap or in flight; synced "
           f"on {backup} beforehand: {' '.join(entry.split())}; download {fetched}")
    assert taken - lost <= TAKEOVER_WITHIN
    assert quiet <= TAKEOVER_WITHIN, f"the VIP did not answer for {quiet:.2f} s"
    assert before == 0 and loop.failed() <= in_gap, f"{loop}: more failed than were sent in the gap ({in_gap})"
    assert fetched == ["200", str(BIG_BYTES)], f"the download across the takeover did not complete: {fetched}"
    return master, backup


def master_returns(lab, name: str, inventory: Path, master: str, how: str, preempt: bool = True) -> None:
    """The old master comes back (`how`: "start", the VM boots; or "keepalived", the daemon starts) under the
    loop. With preempt it takes the VIP back no sooner than preempt_delay after it entered BACKUP, and no request
    fails; with nopreempt it stays backup."""
    vip = lab.topology.vip
    other = next(d for d in DIRECTORS if d != master)
    loop = RequestLoop(name, vip, 1800)   # stopped once the story is told
    time.sleep(2)
    if how == "start":
        booted = control.start(Console(), name, master)
    else:
        ssh(name, master, "systemctl start keepalived")
        booted = 0.0
    watch = address_watch(name, master, vip, polls=int((PREEMPT_DELAY + 60) * 10))
    if preempt:
        master_since = watch.wait()
        assert master_since is not None, f"{master} never took {vip} back"
        time.sleep(3)
        loop.stop()
        states = keepalived_transitions(name, master)
        backup_at = next(t for t, state in states if state == "BACKUP")
        master_at = next(t for t, state in reversed(states) if state == "MASTER")
        waited = master_at - backup_at
        record(f"{name} {master} back ({how}, SSH after {booted:.0f} s): took {vip} back {waited:.1f} s after it "
               f"entered BACKUP (preempt_delay {PREEMPT_DELAY} s); {loop}")
        assert waited >= PREEMPT_DELAY - 0.5, f"{master} preempted after {waited:.1f} s"
        assert loop.results and loop.failed() == 0, f"requests failed when {master} took the VIP back: {loop}"
        assert loop.answers and max(loop.answers) > master_since, "the loop must outlast the takeover"
        assert holders(name, vip) == [master]
    else:
        time.sleep(PREEMPT_DELAY + 5)   # more than enough for a preemption to have happened
        loop.stop()
        states = keepalived_transitions(name, master)
        record(f"{name} {master} back with nopreempt ({how}): states {[s for _, s in states]}, {vip} on "
               f"{holders(name, vip)}; {loop}")
        assert watch.proc.poll() is None, f"{master} took {vip} although nopreempt"
        watch.proc.kill()
        assert holders(name, vip) == [other] and [s for _, s in states][-1] == "BACKUP"
        assert loop.results and loop.failed() == 0, f"requests failed while {master} came back: {loop}"
        # the pair in its other state (the lower priority is master) is as healthy: nothing to plan, verify passes
        plan = cli("plan", str(inventory))
        assert plan.returncode == 0 and "Plan: 0 changes" in plan.stdout
        verify = cli("verify", str(inventory))
        assert verify.returncode == 0 and f"{other} is master" in verify.stdout


def stopped_keepalived_fails_over_and_nopreempt_keeps_backup(lab, name: str, inventory: Path, tmp_path: Path) -> None:
    """nopreempt applied (a reload, same PIDs), keepalived stopped on the master: the backup takes over as on a
    power cut; keepalived started again: the old master stays backup. preempt again: it takes the VIP back after
    preempt_delay, no request failing."""
    vip = lab.topology.vip

    def nopreempt(data):
        data["all"]["vars"]["lvs_failover"]["preempt"] = False
    stays = edited_inventory(inventory, tmp_path / "nopreempt.yml", nopreempt)
    pids = {d: ssh(name, d, "systemctl show -p MainPID --value keepalived").stdout.strip() for d in DIRECTORS}
    result, loop, silence = _apply_under_loop(name, vip, stays, "nopreempt")
    record(f"{name} nopreempt applied: {loop}, longest silence {silence:.1f} s")
    assert loop.failed() == 0
    assert pids == {d: ssh(name, d, "systemctl show -p MainPID --value keepalived").stdout.strip()
                    for d in DIRECTORS}, "keepalived was restarted, not reloaded"
    master, _ = master_lost(lab, name, stays, "stop")
    master_returns(lab, name, stays, master, "keepalived", preempt=False)
    result, loop, silence = _apply_under_loop(name, vip, inventory, "preempt again")
    record(f"{name} preempt applied again: {loop}, longest silence {silence:.1f} s")
    assert loop.failed() == 0
    _settled(name, vip, master, inventory)


def directors_rebooted_in_turn(lab, name: str, inventory: Path) -> None:
    """The backup reboots, then the master: the service answers throughout (never 3 s without an answer), and
    the master takes the VIP back after preempt_delay."""
    vip = lab.topology.vip
    master, backup = master_and_backup(name, vip)
    loop = RequestLoop(name, vip, 3600)   # stopped once both are back
    time.sleep(2)
    started = time.monotonic()
    for host in (backup, master):
        control.reboot(Console(), name, [host])
        up = ssh(name, host, "for i in $(seq 240); do systemctl is-active -q keepalived && exit 0; sleep 0.5; done; "
                             "exit 1", check=False)
        assert up.returncode == 0, f"keepalived did not start on {host} after its reboot"
    assert address_watch(name, master, vip, polls=int((PREEMPT_DELAY + 60) * 10)).wait() is not None
    time.sleep(3)
    stopping = time.monotonic()
    loop.stop()
    silence = longest_silence(loop, started, stopping - 0.3)
    record(f"{name} {backup} then {master} rebooted: {loop}, longest silence {silence:.2f} s")
    assert silence <= TAKEOVER_WITHIN, f"the VIP did not answer for {silence:.2f} s"
    _settled(name, vip, master, inventory)
