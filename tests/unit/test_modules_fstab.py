"""fstab helpers of `mounts`: our marked line, lines we did not write, and live mounts compared on what the
kernel echoes."""

import pytest

from lvsdeploy.facts import Mount
from lvsdeploy.modules import fstab
from lvsdeploy.modules.base import ModuleError

ARGS = {"src": "10.20.0.20:/srv/lvs/content", "path": "/var/www/html", "fstype": "nfs", "opts": "ro,vers=4.2,_netdev"}
LINE = "10.20.0.20:/srv/lvs/content /var/www/html nfs ro,vers=4.2,_netdev 0 0 # lvsdeploy"
NFS_OPTS = "ro,relatime,vers=4.2,rsize=131072,hard,proto=tcp,sec=sys,addr=10.20.0.20"
NFS_LIVE = Mount("10.20.0.20:/srv/lvs/content", "/var/www/html", "nfs4", NFS_OPTS)


def test_our_line_is_marked_and_escaped():
    assert fstab.fstab_line(fstab.mount_args(ARGS)) == LINE
    spaced = fstab.fstab_line(fstab.mount_args({**ARGS, "path": "/srv/my share"}))
    assert " /srv/my\\040share " in spaced
    assert fstab.is_ours(LINE) and not fstab.is_ours("nas:/x /var/www/html nfs defaults 0 0")
    assert fstab.mount_point(LINE) == "/var/www/html"


def test_expanded_kernel_options_still_match():
    # The kernel says nfs4 and lists vers=4.2,rsize=...,addr=...: still the same mount.
    assert fstab.live_matches(fstab.mount_args(ARGS), NFS_LIVE)
    # vers=4 is satisfied by a negotiated 4.2; rw is not ro; another source is another mount.
    assert fstab.live_matches(fstab.mount_args({**ARGS, "opts": "ro,vers=4"}), NFS_LIVE)
    assert not fstab.live_matches(fstab.mount_args({**ARGS, "opts": "rw,vers=4.2"}), NFS_LIVE)
    assert not fstab.live_matches(fstab.mount_args({**ARGS, "opts": "ro,vers=4.1"}), NFS_LIVE)
    assert not fstab.live_matches(fstab.mount_args({**ARGS, "src": "10.20.0.21:/srv/lvs/content"}), NFS_LIVE)


def test_a_line_we_did_not_write_stops_the_plan():
    with pytest.raises(ModuleError, match="did not write"):
        fstab.check_not_theirs("/var/www/html", ["nas:/export /var/www/html nfs defaults 0 0"])
    fstab.check_not_theirs("/var/www/html", [LINE])   # ours: no error


@pytest.mark.parametrize("bad, message", [
    ({"path": "/var/www/html"}, "missing argument"),
    ({**ARGS, "opts": "ro, hard"}, "without spaces"),
    ({**ARGS, "fstype": "nfs;rm"}, "filesystem type"),
    ({**ARGS, "state": "absent"}, "unknown argument"),
])
def test_bad_mount_arguments_are_refused(bad, message):
    with pytest.raises(ModuleError, match=message):
        fstab.mount_args(bad)
