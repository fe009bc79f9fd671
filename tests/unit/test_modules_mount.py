"""mount: our marked fstab line plus the live mount, compared on what the kernel echoes."""

from pathlib import Path

import pytest

from lvsdeploy.facts import FileFact, Mount
from lvsdeploy.facts.gather import parse
from lvsdeploy.modules import mount
from lvsdeploy.modules.base import FactsRequest, ModuleError

FIXTURES = Path(__file__).parent / "fixtures" / "facts"
ARGS = {"src": "10.20.0.20:/srv/lvs/content", "path": "/var/www/html", "fstype": "nfs", "opts": "ro,vers=4.2,_netdev"}
LINE = "10.20.0.20:/srv/lvs/content /var/www/html nfs ro,vers=4.2,_netdev 0 0 # lvsdeploy"
NFS_OPTS = "ro,relatime,vers=4.2,rsize=131072,hard,proto=tcp,sec=sys,addr=10.20.0.20"
NFS_LIVE = Mount("10.20.0.20:/srv/lvs/content", "/var/www/html", "nfs4", NFS_OPTS)


def load(host):
    return parse((FIXTURES / f"{host}.facts").read_text())


def fstab_of(facts):
    return facts.files["/etc/fstab"].content.decode()


def test_mounted_with_expanded_kernel_options_is_ok():
    # The kernel says nfs4 and lists vers=4.2,rsize=...,addr=...: still the same mount.
    assert mount.facts_needed(ARGS) == FactsRequest(files={"/etc/fstab"})
    assert mount.plan(ARGS, load("realserver")) == []
    # vers=4 negotiated as 4.2 is the same live mount: only the fstab line changes, no remount.
    (change,) = mount.plan({**ARGS, "opts": "ro,vers=4"}, load("realserver"))
    assert not any("mount /var/www/html" in c for c in change.commands)


def test_fresh_host_gets_the_line_then_the_mount():
    facts = load("director")
    (change,) = mount.plan(ARGS, facts)
    mounted = "+ mounted 10.20.0.20:/srv/lvs/content on /var/www/html type nfs (ro,vers=4.2,_netdev)"
    assert change.diff == (f"+ {LINE}", mounted)
    assert change.commands[-2:] == ("mkdir -p -- /var/www/html", "mount /var/www/html")
    assert any("systemctl daemon-reload" in c for c in change.commands)
    # Idempotence: the fstab the commands write, and the mount the kernel then reports.
    new_fstab = fstab_of(facts) + LINE + "\n"
    facts.files["/etc/fstab"] = FileFact(True, new_fstab.encode(), "0644", "root", "root", "file")
    facts.mounts.append(NFS_LIVE)
    assert mount.plan(ARGS, facts) == []


def test_changed_options_rewrite_the_line_in_place_and_remount():
    facts = load("realserver")
    (change,) = mount.plan({**ARGS, "opts": "rw,vers=4.2,_netdev"}, facts)
    assert change.diff[:2] == (f"- {LINE}", f"+ {LINE.replace('ro,', 'rw,')}")
    assert change.commands[-2:] == ("umount /var/www/html", "mount /var/www/html")


def test_absent_unmounts_first_and_removes_only_our_line():
    facts = load("realserver")
    (change,) = mount.plan({"path": "/var/www/html", "state": "absent"}, facts)
    assert change.commands[0] == "umount /var/www/html"
    assert change.diff[-1] == f"- {LINE}"
    assert not any("rm " in c or "rmdir" in c for c in change.commands)  # the content elsewhere is kept
    facts.mounts = [m for m in facts.mounts if m.path != "/var/www/html"]
    without = fstab_of(facts).replace(LINE + "\n", "").encode()
    facts.files["/etc/fstab"] = FileFact(True, without, "0644", "root", "root", "file")
    assert mount.plan({"path": "/var/www/html", "state": "absent"}, facts) == []


def test_a_line_we_did_not_write_is_not_overwritten():
    facts = load("director")
    theirs = fstab_of(facts) + "nas:/export /var/www/html nfs defaults 0 0\n"
    facts.files["/etc/fstab"] = FileFact(True, theirs.encode(), "0644", "root", "root", "file")
    with pytest.raises(ModuleError, match="did not write"):
        mount.plan(ARGS, facts)


def test_src_is_required_to_mount():
    with pytest.raises(ModuleError, match="src is required"):
        mount.facts_needed({"path": "/var/www/html"})
