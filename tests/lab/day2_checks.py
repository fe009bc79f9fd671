"""Day-2 operations on a lab (issue 15): status against ipvsadm, drain and undrain under traffic, a rolling
restart by the README's recipe, and `plan --format json` against the text plan. Plain functions taking the lab's
state and the inventory, after the first apply. Figures go to ~/.cache/lvsdeploy/results/day2.txt.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import jsonschema

from lvsdeploy.lab import control

from . import health_checks
from .lab import PROJECT_DIR, address, cli, cli_json, ssh, whoami_counts

SCHEMAS = PROJECT_DIR / "lvsdeploy" / "schemas"
DOWNLOAD_PORT = 40123
BIG, BIG_BYTES = "/var/www/html/big-drain", 20_000_000   # 20 s at the download's 1000 kB/s


def record(line: str) -> None:
    health_checks.record(line, "day2.txt")


def status_reads_the_table(lab_state, inventory: Path) -> None:
    """`status --format json` follows its schema and shows the inventory's weights on a converged lab; its time
    against ipvsadm asked by hand over ssh."""
    lab = lab_state.name
    started = time.monotonic()
    result = cli_json("status", "--format", "json", str(inventory))
    took = time.monotonic() - started
    assert result.returncode == 0, "a converged lab matches its inventory"
    document = json.loads(result.stdout)
    jsonschema.validate(document, json.loads((SCHEMAS / "status-1.json").read_text()))
    (director,) = [d for d in document["directors"] if d["name"] == "director1"]
    assert director["state"] == "ok" and director["issue_count"] == 0
    backends = [b for s in director["services"] for b in s["backends"]]
    assert backends and all(b["weight"] == b["inventory_weight"] for b in backends)
    started = time.monotonic()
    ssh(lab, "director1", "ipvsadm -Ln --stats")
    by_hand = time.monotonic() - started
    text = cli("status", str(inventory))
    assert text.returncode == 0 and "no mismatches" in text.stdout
    record(f"{lab}: lvsdeploy status (json, {len(backends)} real servers): {took:.2f} s; "
           f"`ssh director1 ipvsadm -Ln --stats` by hand: {by_hand:.2f} s")


def _download(lab: str, vip: str) -> subprocess.Popen:
    for rs in ("rs1", "rs2"):
        ssh(lab, rs, f"head -c {BIG_BYTES} /dev/zero > {BIG}")
    return subprocess.Popen(control.ssh_argv(lab, "client", [
        f"curl -s -o /dev/null -w '%{{http_code}} %{{size_download}}' --limit-rate 1000k --max-time 120 "
        f"--local-port {DOWNLOAD_PORT} http://{vip}/{Path(BIG).name}"]), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, text=True)


def _download_goes_to(lab_state, vip: str) -> str:
    """The real server the download's connection was scheduled to (the director's connection table)."""
    client = address(lab_state, "client", "lvs_client_ip")
    rips = {address(lab_state, v.name): v.name for v in lab_state.topology.vms if v.group == "realservers"}
    for _ in range(50):
        for line in ssh(lab_state.name, "director1", "ipvsadm -Lnc").stdout.splitlines():
            words = line.split()
            if len(words) >= 6 and words[3] == f"{client}:{DOWNLOAD_PORT}" and words[4] == f"{vip}:80":
                return rips[words[5].rsplit(":", 1)[0]]
        time.sleep(0.2)
    raise AssertionError("the download's connection never showed in the director's table")


def drain_under_traffic(lab_state, inventory: Path, checker: str | None = None) -> None:
    """A drained real server gets no new request at once, its long download completes, no request fails;
    an apply meanwhile keeps it drained (and plan says since when); undrain brings it back. With a health
    `checker` keeping the table, the drain goes through the checker's configuration and reload (same PID), and
    verify passes during the drain, naming it."""
    lab, vip = lab_state.name, lab_state.topology.vip
    pid = health_checks.daemon_pid(lab, checker) if checker else None
    loop = health_checks.RequestLoop(lab, vip, 600)
    download = _download(lab, vip)
    try:
        host = _download_goes_to(lab_state, vip)
        started = time.monotonic()
        drained = cli("drain", "--yes", "--wait", "--timeout", "180", str(inventory), host)
        waited = time.monotonic() - started
        assert drained.returncode == 0, "drain --wait ends when the download has finished"
        code, size = download.communicate(timeout=180)[0].split()
        assert code == "200" and int(size) == BIG_BYTES, "the download through the drained server completes"
        seen = whoami_counts(lab, vip, 20)
        assert host not in seen, f"new requests still reach the drained {host}: {seen}"
        assert cli("apply", "--yes", str(inventory)).returncode == 0
        plan = cli("plan", str(inventory))
        assert plan.returncode == 0 and "drained since" in plan.stdout
        assert host not in whoami_counts(lab, vip, 20), "an apply must keep the drain"
        if checker:   # verify's JSON summary (schema lvsdeploy.verify/1) names the drain; nothing failed
            loop.stop()   # verify counts the connections its own requests make: nothing else may send any
            verify = cli_json("verify", "--format", "json", str(inventory))
            summary = json.loads(verify.stdout)
            jsonschema.validate(summary, json.loads((SCHEMAS / "verify-1.json").read_text()))
            rip = address(lab_state, host)
            assert verify.returncode == 0 and summary["summary"]["failed"] == 0, "a drain is no failed deployment"
            assert summary["summary"]["passed"] > 10
            assert any(f"{rip}:80 ({host}) drained since" in line for line in summary["notes"]["drained"]), summary
            config = ssh(lab, "director1", f"cat {health_checks.CONFIG[checker]}").stdout
            assert "drained by `lvsdeploy drain`" in config and rip in config
        assert cli("undrain", "--yes", str(inventory), host).returncode == 0
        if checker:   # the checker puts it back at its next check
            assert health_checks.TableWatch(lab, health_checks.dest_weight(rip, 80, 1)).wait(60) is not None
        assert whoami_counts(lab, vip, 20).get(host, 0) >= 5, "undrained, it takes its share again"
        if checker:
            assert health_checks.daemon_pid(lab, checker) == pid, f"{checker} was restarted, not reloaded"
    finally:
        loop.stop()
        if download.poll() is None:
            download.kill()
        cli("undrain", "--yes", str(inventory), "rs1")
        cli("undrain", "--yes", str(inventory), "rs2")
    record(f"{lab}{' ' + checker if checker else ''}: {host} drained under 10 requests/s with a 20 MB download on "
           f"it: drain --wait returned after "
           f"{waited:.1f} s (the download's end); {loop}")
    assert loop.failed() == 0, f"requests failed during the drain: {loop}"


def rolling_restart(lab_state, inventory: Path) -> None:
    """The README's recipe: drain --wait, restart the web server, undrain, one real server after the other,
    under a request loop: no request fails. While rs1 is drained, plan reads the drain record and keeps it: it
    says since when, and finds nothing to change (so an apply would keep the drain)."""
    lab, vip = lab_state.name, lab_state.topology.vip
    loop = health_checks.RequestLoop(lab, vip, 900)
    started = time.monotonic()
    try:
        for rs in ("rs1", "rs2"):
            assert cli("drain", "--yes", "--wait", str(inventory), rs).returncode == 0
            if rs == "rs1":
                plan = cli("plan", str(inventory))
                assert plan.returncode == 0 and "drained since" in plan.stdout, "plan must keep the drain"
            ssh(lab, rs, "systemctl restart nginx")
            assert cli("undrain", "--yes", str(inventory), rs).returncode == 0
    finally:
        loop.stop()
    record(f"{lab}: rolling restart of rs1 and rs2 (drain --wait, restart nginx, undrain): "
           f"{time.monotonic() - started:.0f} s, {loop}")
    assert loop.results and loop.failed() == 0, f"requests failed during the rolling restart: {loop}"


def plan_json_matches_the_text(lab_state, inventory: Path, drift: tuple[str, str]) -> None:
    """On a drifted lab, `plan --format json` lists exactly the resources the text plan shows."""
    lab = lab_state.name
    rip = address(lab_state, "rs2")
    ssh(lab, "director1", f"ipvsadm -d -t {lab_state.topology.vip}:80 -r {rip}:80")
    ssh(lab, "rs1", drift[0])
    try:
        text = cli("plan", str(inventory))
        as_json = cli_json("plan", "--format", "json", str(inventory))
        assert text.returncode == as_json.returncode == 2
        document = json.loads(as_json.stdout)
        jsonschema.validate(document, json.loads((SCHEMAS / "plan-1.json").read_text()))
        resources = [(h["host"], c["resource"]) for h in document["hosts"] for c in h["changes"]]
        assert len(resources) == 2 and document["summary"]["changes"] == 2
        for _, resource in resources:
            assert f"~ {resource}" in text.stdout
    finally:
        assert cli("apply", "--yes", str(inventory)).returncode == 0
