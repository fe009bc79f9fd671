"""modules/corosync_restart.py, cluster_stack_cleanup.py and node_name.py, planned from facts (no host needed)."""

import pytest

from lvsdeploy.facts import FileFact, HostFacts, Mount, UnitFact
from lvsdeploy.modules import ModuleError, cluster_stack_cleanup, corosync_restart, node_name

OURS = b"# Managed by lvsdeploy: the corosync cluster of the hosts that mount gfs2 shares.\ntotem {}\n"
DEBIANS = b"# Please read the corosync.conf.5 manual page\ntotem {}\n"


def host(corosync="active", config=DEBIANS, mounts=(), files=None, fstab=b"") -> HostFacts:
    facts = HostFacts(units={"corosync.service": UnitFact("loaded", "enabled", corosync)}, mounts=list(mounts),
                      packages={"corosync": "3.1.7-1"})
    facts.files["/etc/fstab"] = FileFact(True, fstab)
    facts.files["/etc/corosync/corosync.conf"] = FileFact(True, config) if config is not None else FileFact(False)
    facts.files["/etc/corosync/authkey"] = FileFact(False)
    for path, content in (files or {}).items():
        facts.files[path] = FileFact(True, content)
    return facts


def test_corosync_running_debians_example_is_restarted_onto_ours():
    (change,) = corosync_restart.plan({"config": OURS.decode()}, host())
    assert change.commands == ("systemctl restart corosync.service", "systemctl try-restart dlm.service")
    assert "/etc/corosync/corosync.conf" in change.diff[0]


def test_nothing_when_it_runs_ours_already_or_is_not_running():
    assert corosync_restart.plan({"config": OURS.decode()}, host(config=OURS)) == []
    assert corosync_restart.plan({"config": OURS.decode()}, host(corosync="inactive")) == []


def test_a_new_key_restarts_it_too():
    (change,) = corosync_restart.plan({"config": OURS.decode(), "key": b"k" * 128}, host(config=OURS))
    assert "/etc/corosync/authkey" in change.diff[0]


def test_never_under_a_mounted_gfs2_and_plan_says_why():
    gfs2 = Mount("/dev/sda", "/var/www/html/cluster", "gfs2", "rw")
    facts = host(mounts=[gfs2])
    assert corosync_restart.plan({"config": OURS.decode()}, facts) == []
    (note,) = corosync_restart.notes({"config": OURS.decode()}, facts)
    assert "not restarted under the mounted gfs2 /var/www/html/cluster" in note


def test_cleanup_takes_away_only_a_stack_lvsdeploy_wrote():
    ours = host(config=OURS, files={"/etc/dlm/dlm.conf": b"# Managed by lvsdeploy.\nenable_fencing=0\n"})
    (change,) = cluster_stack_cleanup.plan({"keep": "none"}, ours)
    assert change.resource == "cluster stack gfs2"
    assert "rm -f -- /etc/corosync/corosync.conf" in change.commands
    assert "rm -f -- /etc/dlm/dlm.conf" in change.commands
    assert "rm -f -- /etc/corosync/authkey" not in change.commands    # it was not there
    assert change.commands[:2] == ("systemctl stop dlm.service corosync.service",
                                   "systemctl --no-reload disable dlm.service corosync.service")
    # still wanted, or someone else's corosync: nothing
    assert cluster_stack_cleanup.plan({"keep": "gfs2"}, ours) == []
    assert cluster_stack_cleanup.plan({"keep": "none"}, host(config=DEBIANS)) == []
    assert cluster_stack_cleanup.plan({"keep": None}, host(config=None)) == []


def test_an_ocfs2_node_whose_hostname_is_not_its_inventory_name_stops_the_plan():
    args = {"name": "rs1", "why": "o2cb finds this node by its hostname"}
    assert node_name.plan(args, HostFacts(hostname="rs1")) == []
    with pytest.raises(ModuleError, match="calls itself 'web-01' .* names it 'rs1'"):
        node_name.plan(args, HostFacts(hostname="web-01"))


def test_cleanup_waits_for_a_gfs2_mounted_outside_lvsdeploys_shares():
    gfs2 = Mount("/dev/sdb", "/srv/theirs", "gfs2", "rw")
    ours = host(config=OURS, mounts=[gfs2])
    assert cluster_stack_cleanup.plan({"keep": "none"}, ours) == []
    assert cluster_stack_cleanup.notes({"keep": "none"}, ours) == [
        "cluster stack gfs2: left running, /srv/theirs still mounted"]
    # lvsdeploy's own mount (its fstab line) is unmounted earlier in the same apply: no reason to wait
    line = b"/dev/disk/by-path/x /srv/theirs gfs2 rw,_netdev 0 0 # lvsdeploy\n"
    (change,) = cluster_stack_cleanup.plan({"keep": "none"}, host(config=OURS, mounts=[gfs2], fstab=line))
    assert change.resource == "cluster stack gfs2"


def test_corosync_installed_by_this_apply_is_restarted_onto_ours():
    fresh = host(corosync="inactive", config=None)
    fresh.packages = {"corosync": None}
    (change,) = corosync_restart.plan({"config": OURS.decode()}, fresh)
    assert change.commands == ("systemctl try-restart corosync.service", "systemctl try-restart dlm.service")
