"""Cluster filesystems (gfs2, ocfs2) on a lab: the storage node's blank disk (serial lvs-lun0) exported over
iSCSI and mounted by both real servers at /var/www/html/cluster (so /cluster/<file> is served through the VIP).
Plain functions taking the lab's state, name and the inventory with the share (`lab inventory --cluster-fs T`).
Figures go to the test output and to ~/.cache/lvsdeploy/results/cluster_fs.txt.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

from rich.console import Console

from lvsdeploy.lab import control
from lvsdeploy.lab.inventory import CLUSTER_SHARE

from . import health_checks
from .lab import cli, ssh

MOUNT = CLUSTER_SHARE["mount"]
DEVICE = CLUSTER_SHARE["device"]
FILES_EACH = 200


def record(line: str) -> None:
    health_checks.record(line, "cluster_fs.txt")


def filesystem_uuid(lab: str) -> str:
    return ssh(lab, "storage1", f"blkid -p -o value -s UUID {DEVICE}", check=False).stdout.strip()


def applied_once_made_once(lab: str, inventory: Path, fstype: str) -> str:
    """plan names the mkfs before the first apply; apply converges; verify passes; the next plan is empty and
    the filesystem's UUID is what the first apply made. Returns that UUID."""
    assert filesystem_uuid(lab) == "", "the lab's LUN disk must start blank"
    plan = cli("plan", str(inventory))
    assert f"would create a {fstype} filesystem on {DEVICE}" in plan.stdout
    started = time.monotonic()
    applied = cli("apply", "--yes", "--detailed-exitcode", str(inventory))
    took = time.monotonic() - started
    assert applied.returncode == 2, "the first apply of a cluster filesystem must change something"
    made = filesystem_uuid(lab)
    assert made, f"no {fstype} filesystem on {DEVICE} after the apply"
    again = cli("plan", str(inventory))
    assert again.returncode == 0 and "Plan: 0 changes" in again.stdout, "a second plan must be empty"
    verify = cli("verify", str(inventory))
    assert verify.returncode == 0
    record(f"{lab} {fstype}: first apply {took:.0f} s, filesystem {made}; second plan empty; verify passed")
    return made


def concurrent_writes_intact(lab: str, fstype: str) -> None:
    """rs1 and rs2 write FILES_EACH files each into one directory at the same time; both then see all of them
    with the same checksums."""
    directory = f"{MOUNT}/concurrent"
    ssh(lab, "rs1", f"rm -rf {directory} && mkdir -p {directory}")
    writers = {}
    started = time.monotonic()
    for rs in ("rs1", "rs2"):
        script = (f"for i in $(seq {FILES_EACH}); do head -c 4096 /dev/urandom > {directory}/{rs}-$i; done")
        writers[rs] = ssh_background(lab, rs, script)
    for rs, proc in writers.items():
        assert proc.wait(timeout=600) == 0, f"{rs} could not write its files"
    took = time.monotonic() - started
    sums = {rs: ssh(lab, rs, f"cd {directory} && sha256sum * | sort").stdout for rs in ("rs1", "rs2")}
    count = len(sums["rs1"].splitlines())
    record(f"{lab} {fstype}: {2 * FILES_EACH} files written at once by rs1 and rs2 in {took:.1f} s; "
           f"rs1 sees {count}, checksums {'equal' if sums['rs1'] == sums['rs2'] else 'DIFFER'} on rs2")
    assert count == 2 * FILES_EACH and sums["rs1"] == sums["rs2"]


def ssh_background(lab: str, host: str, command: str, out=subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen(control.ssh_argv(lab, host, [command]), stdin=subprocess.DEVNULL, stdout=out, text=True)


# rs1 writes this long from 5 s before rs2's power-off (gfs2 recovers in about 7 s, ocfs2 with o2cb's defaults
# in about 70 s), and the longest write stall accepted
WRITE_SECONDS = {"gfs2": 35, "ocfs2": 110}
STALL_BOUND = {"gfs2": 25, "ocfs2": 100}
MOUNT_WAIT = 240     # seconds for a rebooted or restarted real server to log in, join and mount (TCG)
STACK_UNITS = {"gfs2": ("corosync", "dlm"), "ocfs2": ("o2cb",)}
STACK_FILES = {"gfs2": ("/etc/corosync/corosync.conf", "/etc/corosync/authkey", "/etc/dlm/dlm.conf"),
               "ocfs2": ("/etc/ocfs2/cluster.conf", "/etc/default/o2cb")}


def mounted(lab: str, host: str) -> str:
    """`SOURCE FSTYPE` of the cluster share's mount on `host`, "" when none (or the host does not answer)."""
    return ssh(lab, host, f"findmnt -n -o SOURCE,FSTYPE --mountpoint {MOUNT} || true", check=False).stdout.strip()


def wait_mounted(lab: str, host: str, fstype: str) -> float:
    """Seconds until `host` has the share mounted again by itself (its boot: login, cluster, fstab)."""
    started = time.monotonic()
    while not mounted(lab, host).endswith(fstype):
        assert time.monotonic() - started < MOUNT_WAIT, f"{host}: {MOUNT} not mounted {MOUNT_WAIT} s after its boot"
        time.sleep(2)
    return time.monotonic() - started


class Writer:
    """`host` writes a small file into MOUNT/DIR every 0.2 s for `seconds`, each holding the time it was written
    (the guest's own clock); the longest gap between two writes is how long writes stalled."""

    def __init__(self, lab: str, host: str, directory: str, seconds: int):
        self.lab, self.host, self.directory = lab, host, f"{MOUNT}/{directory}"
        script = (f"mkdir -p {self.directory} && end=$(($(date +%s)+{seconds})); i=0; "
                  f"while [ $(date +%s) -lt $end ]; do i=$((i+1)); date +%s.%N > {self.directory}/{host}-$i; "
                  "sleep 0.2; done; echo $i")
        self.proc = ssh_background(lab, host, script, out=subprocess.PIPE)

    def finish(self) -> tuple[int, float]:
        """(files written, longest gap in seconds)"""
        try:
            written = int(self.proc.communicate(timeout=600)[0].strip() or 0)
        finally:
            self.stop()
        stamps = sorted(float(x) for x in ssh(self.lab, self.host, f"cat {self.directory}/{self.host}-*").stdout.split())
        gaps = [b - a for a, b in zip(stamps, stamps[1:])]
        return written, max(gaps, default=0.0)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def realserver_rebooted_rejoins(lab_state, inventory: Path, fstype: str, made: str, rip_of) -> None:
    """rs1 rebooted with no apply: rs2 serves the share's files and goes on writing all the while; rs1 comes back
    logged in, in the cluster and mounted, reads what rs2 wrote meanwhile; plan is empty; same filesystem."""
    lab = lab_state.name
    token = uuid.uuid4().hex
    ssh(lab, "rs2", f"printf %s {token} > {MOUNT}/page-{token}")
    served = health_checks.RequestLoop(lab, rip_of("rs2"), 600, f"/cluster/page-{token}")
    writer = Writer(lab, "rs2", f"reboot-{token}", 60)
    try:
        started = time.monotonic()
        control.reboot(Console(), lab, ["rs1"])
        rebooted = time.monotonic() - started
        back = wait_mounted(lab, "rs1", fstype)
        written, stall = writer.finish()
    finally:
        writer.stop()
        served.stop()
    record(f"{lab} {fstype}: rs1 rebooted (SSH after {rebooted:.0f} s, mounted {back:.0f} s later, no apply); "
           f"rs2 meanwhile: {served}, {written} writes, longest gap {stall:.2f} s")
    assert served.results and served.failed() == 0, f"rs2 failed to serve during rs1's reboot: {served}"
    assert written > 0 and stall < 30, f"rs2's writes stalled {stall:.1f} s during rs1's (clean) reboot"
    seen = ssh(lab, "rs1", f"ls {MOUNT}/reboot-{token} | wc -l").stdout.strip()
    assert seen == str(written), f"rs1 sees {seen} of rs2's {written} files"
    assert filesystem_uuid(lab) == made, "the filesystem changed"
    assert cli("plan", str(inventory)).returncode == 0, "nothing to change after the reboot"


def realserver_powered_off(lab_state, inventory: Path, fstype: str, rip_of) -> None:
    """rs2's plug pulled while rs1 writes and serves: rs1's writes stall until the cluster has recovered rs2's
    journal (measured), then go on; rs1 serves all the while. rs2 started again mounts with no apply."""
    lab = lab_state.name
    directory = f"poweroff-{uuid.uuid4().hex[:8]}"
    ssh(lab, "rs1", f"mkdir -p {MOUNT}/{directory} && echo served > {MOUNT}/{directory}/page")
    served = health_checks.RequestLoop(lab, rip_of("rs1"), 600, f"/cluster/{directory}/page")
    writer = Writer(lab, "rs1", directory, WRITE_SECONDS[fstype])
    powered_off = False
    try:
        time.sleep(5)
        control.poweroff(Console(), lab, "rs2")
        powered_off = True
        written, stall = writer.finish()
        served.stop()
        # reads wait for the recovery too (dlm freezes lock requests until it is done): the requests that waited
        # longer than the loop's timeout fail, all of them in one window no longer than the write stall
        failed = [begun for begun, ok in served.results if not ok]
        window = max(failed) - min(failed) if failed else 0.0
        record(f"{lab} {fstype}: rs2 powered off while rs1 wrote every 0.2 s: longest write stall {stall:.2f} s, "
               f"{written} writes in {WRITE_SECONDS[fstype]} s; reads of a page in that directory from rs1: "
               f"{served}" + (f", failures within {window:.1f} s" if failed else ""))
        assert written > 0 and stall < STALL_BOUND[fstype], f"rs1's writes stalled {stall:.1f} s (or never resumed)"
        assert served.results and window <= stall + 1, f"rs1 failed to serve outside the recovery: {served}"
        assert all(ok for begun, ok in served.results if begun > max(failed, default=0.0)), "reads did not come back"
    finally:
        writer.stop()
        served.stop()
        if powered_off:   # the steps after this one need rs2, whatever happened here
            booted = control.start(Console(), lab, "rs2")
    back = wait_mounted(lab, "rs2", fstype)
    seen = ssh(lab, "rs2", f"ls {MOUNT}/{directory} | grep -c rs1-").stdout.strip()
    record(f"{lab} {fstype}: rs2 started again: SSH after {booted:.0f} s, mounted {back:.0f} s later (no apply), "
           f"sees {seen} of rs1's {written} files")
    assert seen == str(written)
    assert cli("plan", str(inventory)).returncode == 0, "nothing to change after rs2's return"


def removed_keeps_data(lab_state, base: Path, inventory: Path, fstype: str, made: str, bring_back: bool) -> None:
    """The share left the inventory: each real server unmounts it, logs out and loses the cluster stack lvsdeploy
    set up (services stopped and disabled, its files gone); the storage node keeps the target while a client is
    logged in (plan says so) and drops it at the next apply; the filesystem stays on the LUN. `bring_back`: the
    share brought back mounts that same filesystem (no mkfs) with every file as it was."""
    lab = lab_state.name
    realservers = [v.name for v in lab_state.topology.vms if v.group == "realservers"]
    sums = ssh(lab, "rs1", f"cd {MOUNT} && find . -type f | sort | xargs sha256sum").stdout
    assert sums, "the share should hold the files of the earlier steps"

    first = cli("apply", "--yes", str(base))
    assert first.returncode == 0
    assert "stays while" in first.stdout, "plan must say why the target stays for now"
    for rs in realservers:
        assert mounted(lab, rs) == "", f"{rs}: still mounted"
        assert MOUNT not in ssh(lab, rs, "cat /etc/fstab").stdout, f"{rs}: fstab still names {MOUNT}"
        sessions = ssh(lab, rs, "iscsiadm -m session 2>/dev/null; ls /etc/iscsi/nodes", check=False).stdout
        assert ":storage1." not in sessions, f"{rs}: still logged in or recorded:\n{sessions}"
        left = ssh(lab, rs, " ".join(f"test -e {f} && echo {f};" for f in STACK_FILES[fstype]) + " true").stdout
        assert left.strip() == "", f"{rs}: lvsdeploy's cluster files remain: {left}"
        for unit in STACK_UNITS[fstype]:
            state = ssh(lab, rs, f"systemctl is-active {unit}; systemctl is-enabled {unit}", check=False).stdout.split()
            assert state[:1] != ["active"] and state[1:2] == ["disabled"], f"{rs}: {unit} {state}"
    second = cli("apply", "--yes", "--detailed-exitcode", str(base))
    assert second.returncode == 2 and "- target" in second.stdout, "the next apply removes the target"
    assert "iqn" not in ssh(lab, "storage1", "ls /sys/kernel/config/target/iscsi 2>/dev/null | grep iqn || true").stdout
    assert cli("plan", str(base)).returncode == 0
    assert filesystem_uuid(lab) == made, "the filesystem must stay on the LUN"
    if not bring_back:
        record(f"{lab} {fstype}: share removed (unmounted, logged out, stack and files gone; target at the next "
               f"apply); filesystem {made} still on the LUN")
        return

    back = cli("plan", str(inventory))
    assert back.returncode == 2 and "would create" not in back.stdout, "the share brought back must not mkfs"
    assert cli("apply", "--yes", str(inventory)).returncode == 0
    for rs in realservers:
        again = ssh(lab, rs, f"cd {MOUNT} && find . -type f | sort | xargs sha256sum").stdout
        assert again == sums, f"{rs}: the files changed while the share was away"
    assert filesystem_uuid(lab) == made
    record(f"{lab} {fstype}: share removed (unmounted, logged out, stack and files gone; target at the next "
           f"apply), brought back: same filesystem {made}, {len(sums.splitlines())} files intact")


def leave(base: Path) -> None:
    """The lab back to its own inventory (two applies: the target goes once the clients have logged out)."""
    assert cli("apply", "--yes", str(base)).returncode == 0
    assert cli("apply", "--yes", str(base)).returncode == 0
    assert cli("plan", str(base)).returncode == 0
