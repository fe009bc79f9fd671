"""Cluster filesystems (gfs2, ocfs2) on a lab: the storage node's blank disk (serial lvs-lun0) exported over
iSCSI and mounted by both real servers at /var/www/html/cluster (so /cluster/<file> is served through the VIP).
Plain functions taking the lab's state, name and the inventory with the share (`lab inventory --cluster-fs T`).
Figures go to the test output and to ~/.cache/lvsdeploy/results/cluster_fs.txt.
"""

from __future__ import annotations

import time
from pathlib import Path

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


def ssh_background(lab: str, host: str, command: str):
    import subprocess

    from lvsdeploy.lab import control
    return subprocess.Popen(control.ssh_argv(lab, host, [command]), stdout=subprocess.DEVNULL)
