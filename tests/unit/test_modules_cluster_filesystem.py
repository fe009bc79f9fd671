"""modules/cluster_filesystem.py: mkfs only on a device blkid proves blank; never a reformat (no host needed)."""

from types import SimpleNamespace

import pytest

from lvsdeploy.facts.blockdev import parse_devices
from lvsdeploy.modules import ModuleError
from lvsdeploy.modules.cluster_filesystem import plan

DEV = "/dev/disk/by-id/virtio-lvs-lun0"
GFS2 = {"device": DEV, "fstype": "gfs2", "cluster": "lvs", "name": "content", "journals": 2}


def facts(probe: str, path: str = DEV):
    return SimpleNamespace(devices=parse_devices(f"device {path}\n{probe}"))


def test_a_blank_device_gets_its_filesystem_guarded_by_a_fresh_probe():
    (change,) = plan(GFS2, facts("probed 2\n"))
    assert change.diff == (f"+ would create a gfs2 filesystem on {DEV} (lock table lvs:content, 2 journals)",)
    assert change.commands == (f"mkfs.gfs2 -O -p lock_dlm -t lvs:content -j 2 {DEV}",)
    assert change.guards == (f"{{ blkid -p {DEV} >/dev/null 2>&1 && false || [ $? -eq 2 ]; }}",)


def test_the_blank_guard_holds_only_for_blkids_nothing_found_under_set_e(tmp_path):
    import subprocess
    from lvsdeploy.modules.cluster_filesystem import _blank_guard
    guard = _blank_guard(DEV).replace(f"blkid -p {DEV}", "sh -c 'exit $CODE'")
    for code, holds in (("2", True), ("0", False), ("1", False)):
        script = f"set -e; {guard} || echo stale; echo end"
        out = subprocess.run(["sh", "-c", script], env={"CODE": code}, capture_output=True, text=True).stdout
        assert out == ("end\n" if holds else "stale\nend\n"), (code, out)


def test_ocfs2_names_its_cluster_and_slots():
    (change,) = plan({**GFS2, "fstype": "ocfs2", "journals": 3}, facts("probed 2\n"))
    assert change.commands[0].startswith("mkfs.ocfs2 -N 3 -L content --cluster-stack=o2cb --cluster-name=lvs ")


def test_the_same_filesystem_again_is_no_change():
    assert plan(GFS2, facts("TYPE=gfs2\nLABEL=lvs:content\nUUID=1\nprobed 0\n")) == []
    assert plan(GFS2, facts("TYPE=gfs2\nLABEL=lvs:content\nUUID=1\nprobed 0\njournals 2\n")) == []


def test_more_clients_than_journals_stop_the_plan_with_the_command_that_adds_them():
    with pytest.raises(ModuleError, match=r"has 2 journals and the inventory asks for 3.*`gfs2_jadd -j 1 MOUNTPOINT`"):
        plan({**GFS2, "journals": 3}, facts("TYPE=gfs2\nLABEL=lvs:content\nprobed 0\njournals 2\n"))
    with pytest.raises(ModuleError, match=rf"`tunefs.ocfs2 -N 3 {DEV}`"):
        plan({**GFS2, "fstype": "ocfs2", "journals": 3}, facts("TYPE=ocfs2\nprobed 0\njournals 2\n"))


@pytest.mark.parametrize("probe, holds", [("TYPE=ext4\nUUID=2\nprobed 0\n", "an ext4 filesystem"),
                                          ("PTTYPE=gpt\nprobed 0\n", "a gpt partition table"),
                                          ("TYPE=ocfs2\nprobed 0\n", "an ocfs2 filesystem")])
def test_anything_else_on_the_device_stops_the_plan(probe, holds):
    with pytest.raises(ModuleError, match="never reformats"):
        plan(GFS2, facts(probe))


def test_an_unreadable_or_missing_device_is_never_formatted():
    with pytest.raises(ModuleError, match="can prove there is none"):
        plan(GFS2, facts("probed 1\n"))
    with pytest.raises(ModuleError, match="does not exist on this host"):
        plan(GFS2, facts("missing\n"))


def test_another_lock_table_is_refused_with_the_way_out():
    with pytest.raises(ModuleError, match="tunegfs2 -o locktable"):
        plan(GFS2, facts("TYPE=gfs2\nLABEL=other:content\nprobed 0\n"))


def test_a_file_backed_lun_is_created_then_formatted():
    path = "/srv/lvs/luns/content.img"
    (change,) = plan({**GFS2, "device": path, "size": "2G"}, facts("missing\n", path))
    assert change.commands[:2] == ("mkdir -p -- /srv/lvs/luns", f"truncate -s 2G {path}")
    assert change.guards == (f"[ ! -e {path} ]",)
