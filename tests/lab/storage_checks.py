"""Shared storage on a lab, as plain functions the topology flow calls (each takes lab_state, the lab's
inventory path and a tmp_path), after the first apply has converged. Each one is called by one step of
tests/lab/flow.py (TopologyFlow), on the topologies named there, and leaves the lab as the inventory says.

The lab inventory has one share, `content`: storage1:/srv/lvs/content mounted on every real server at
/var/www/html/shared, so nginx serves it as /shared/ through the VIP.
"""

import shlex
import time
import uuid
from pathlib import Path

import yaml
from rich.console import Console

from lvsdeploy.lab import control

from .lab import address, cli, edited_inventory, ssh

MOUNT_WAIT = 180   # seconds for a background mount to come back after a boot


def _share(inventory_path: Path) -> dict:
    data = yaml.safe_load(inventory_path.read_text())
    (share,) = data["all"]["vars"]["lvs_shared_storage"]
    return share


def _realservers(lab_state) -> list[str]:
    return [v.name for v in lab_state.topology.vms if v.group == "realservers"]


def _storage_ip(lab_state, server: str) -> str:
    return address(lab_state, server, "lvs_storage_ip")


def _mount_of(lab: str, host: str, path: str) -> str:
    """`SOURCE FSTYPE OPTIONS` of the mount on `path`, or "" when nothing is mounted there."""
    return ssh(lab, host, f"findmnt -n -o SOURCE,FSTYPE,OPTIONS --mountpoint {path} || true").stdout.strip()


def _wait_mounted(lab: str, host: str, path: str) -> str:
    deadline = time.monotonic() + MOUNT_WAIT
    while not (found := _mount_of(lab, host, path)) and time.monotonic() < deadline:
        time.sleep(3)
    return found


def _exported(lab: str, server: str) -> str:
    return ssh(lab, server, "cat /var/lib/nfs/etab").stdout


def _write_on_storage(lab: str, share: dict, name: str, text: str) -> None:
    path = f"{share['export']}/{name}"
    ssh(lab, share["server"], f"printf '%s' {shlex.quote(text)} > {path} && chmod 0644 {path}")


def _served_locally(lab: str, host: str, url_path: str, token: str) -> bool:
    """rs serves the file itself (curl to 127.0.0.1), retried through an NFSv4 grace period after a boot."""
    deadline = time.monotonic() + MOUNT_WAIT
    while time.monotonic() < deadline:
        body = ssh(lab, host, f"curl -s --max-time 10 http://127.0.0.1{url_path}", check=False).stdout
        if body == token:
            return True
        time.sleep(3)
    return False


def share_removed_then_restored(lab_state, inventory_path: Path, tmp_path: Path) -> None:
    """Without the share, plan names the export, the fstab line and the mount; apply unmounts, unexports and
    drops the fstab line but keeps the data; the original inventory brings it all back."""
    lab, share = lab_state.name, _share(inventory_path)
    realservers = _realservers(lab_state)
    kept = f"kept-{uuid.uuid4().hex}.txt"
    _write_on_storage(lab, share, kept, "data that must survive the share's removal")
    src = f"{_storage_ip(lab_state, share['server'])}:{share['export']}"
    fstab_line = ssh(lab, realservers[0], f"grep -F ' {share['mount']} ' /etc/fstab").stdout.strip()
    assert fstab_line.startswith(src) and fstab_line.endswith("# lvsdeploy"), fstab_line

    without = edited_inventory(inventory_path, tmp_path / "no-shares.yml",
                               lambda data: data["all"]["vars"].pop("lvs_shared_storage"))
    plan = cli("plan", str(without))
    assert plan.returncode == 2, "removing the share must be a change"
    assert f"- {fstab_line}" in plan.stdout, "plan must show the fstab line going away"
    assert f"~ mount {share['mount']}" in plan.stdout and f"- mounted {src} on {share['mount']}" in plan.stdout
    assert "~ file /etc/exports.d/lvsdeploy.exports" in plan.stdout and f"-{share['export']} " in plan.stdout
    assert "handler: reload exports" in plan.stdout
    assert f"Plan: {1 + 2 * len(realservers)} changes on {1 + len(realservers)} of" in plan.stdout, \
        "plan must show the exports file, and the unmount and the fstab line on each real server, nothing else"

    assert cli("apply", "--yes", str(without)).returncode == 0
    for rs in realservers:
        assert _mount_of(lab, rs, share["mount"]) == "", f"{rs}: {share['mount']} still mounted"
        fstab = ssh(lab, rs, "cat /etc/fstab").stdout
        assert share["mount"] not in fstab, f"{rs}: fstab still has the share:\n{fstab}"
    assert share["export"] not in _exported(lab, share["server"]), "the export is still there"
    assert share["export"] not in ssh(lab, share["server"], "cat /etc/exports.d/lvsdeploy.exports").stdout
    assert ssh(lab, share["server"], f"cat {share['export']}/{kept}").stdout == \
        "data that must survive the share's removal", "the data on the storage node must be kept"
    assert cli("plan", str(without)).returncode == 0, "after the removal the plan must be empty"

    assert cli("apply", "--yes", str(inventory_path)).returncode == 0
    for rs in realservers:
        assert _mount_of(lab, rs, share["mount"]).startswith(src), f"{rs}: {share['mount']} not mounted again"
        assert ssh(lab, rs, "cat /etc/fstab").stdout.count(fstab_line) == 1
        assert ssh(lab, rs, f"cat {share['mount']}/{kept}").stdout == "data that must survive the share's removal"
    assert share["export"] in _exported(lab, share["server"])
    assert cli("plan", str(inventory_path)).returncode == 0
    ssh(lab, share["server"], f"rm -f {share['export']}/{kept}")


def rebooted_realserver_serves_share(lab_state, inventory_path: Path, host: str) -> None:
    """`host` was just rebooted while its storage node stayed up: the share is mounted again with no apply, and
    it serves a file that was written on the storage node after the reboot. (The NAT lab's FULLNAT step reboots
    rs1 with the director, and calls this.)"""
    lab, share = lab_state.name, _share(inventory_path)
    found = _wait_mounted(lab, host, share["mount"])
    assert found.startswith(f"{_storage_ip(lab_state, share['server'])}:{share['export']}"), \
        f"{host}: {share['mount']} not mounted {MOUNT_WAIT} s after the reboot ({found or 'nothing'})"
    token = uuid.uuid4().hex
    name = f"after-reboot-{token}.txt"
    _write_on_storage(lab, share, name, token)
    try:
        url_path = f"/{Path(share['mount']).relative_to('/var/www/html')}/{name}"
        assert _served_locally(lab, host, url_path, token), f"{host} does not serve {url_path} after its reboot"
    finally:
        ssh(lab, share["server"], f"rm -f {share['export']}/{name}")
    assert cli("plan", str(inventory_path)).returncode == 0, "nothing to change after the reboot"


def rebooted_storage_node_is_served_again(lab_state, inventory_path: Path, tmp_path: Path) -> None:
    """storage1 rebooted under mounted real servers: the hard mounts wait and recover, with no apply, and
    every real server serves a file written after the storage node came back."""
    lab, share = lab_state.name, _share(inventory_path)
    control.reboot(Console(), lab, [share["server"]])
    token = uuid.uuid4().hex
    name = f"after-storage-reboot-{token}.txt"
    _write_on_storage(lab, share, name, token)
    try:
        url_path = f"/{Path(share['mount']).relative_to('/var/www/html')}/{name}"
        for rs in _realservers(lab_state):
            assert _served_locally(lab, rs, url_path, token), f"{rs} does not serve {url_path} after storage reboot"
    finally:
        ssh(lab, share["server"], f"rm -f {share['export']}/{name}")
    assert cli("plan", str(inventory_path)).returncode == 0, "nothing to change after the storage node's reboot"


def changed_mount_options_remount(lab_state, inventory_path: Path, tmp_path: Path) -> None:
    """options.mount ro: plan shows the fstab line and the live mount changing; apply remounts read-only;
    the original inventory brings rw back."""
    lab, share = lab_state.name, _share(inventory_path)
    realservers = _realservers(lab_state)

    def read_only(data):
        data["all"]["vars"]["lvs_shared_storage"][0]["options"] = {"mount": "ro,hard,vers=4.2,_netdev"}

    ro = edited_inventory(inventory_path, tmp_path / "ro.yml", read_only)
    plan = cli("plan", str(ro))
    assert plan.returncode == 2
    assert f"{share['mount']} nfs ro,hard,vers=4.2,_netdev,bg 0 0 # lvsdeploy" in plan.stdout
    assert f"{share['mount']} nfs rw,hard,vers=4.2,_netdev,bg 0 0 # lvsdeploy" in plan.stdout   # the - line
    assert f"+ mounted {_storage_ip(lab_state, share['server'])}:{share['export']} on {share['mount']}" in plan.stdout
    assert f"Plan: {2 * len(realservers)} changes on {len(realservers)} of" in plan.stdout
    assert cli("apply", "--yes", str(ro)).returncode == 0
    for rs in realservers:
        assert _mount_of(lab, rs, share["mount"]).split()[2].startswith("ro,"), f"{rs}: not remounted read-only"
    assert cli("apply", "--yes", str(inventory_path)).returncode == 0
    for rs in realservers:
        assert _mount_of(lab, rs, share["mount"]).split()[2].startswith("rw,"), f"{rs}: not remounted read-write"
    assert cli("plan", str(inventory_path)).returncode == 0, "back to the inventory's options, nothing left to do"
