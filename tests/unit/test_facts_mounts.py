"""Live mounts from /proc/self/mounts, with the kernel's octal escapes undone."""

from pathlib import Path

from lvsdeploy.facts import Mount
from lvsdeploy.facts.gather import split_sections
from lvsdeploy.facts.mounts import parse_mounts

FIXTURES = Path(__file__).parent / "fixtures" / "facts"


def test_nfs_mount_as_the_kernel_reports_it():
    mounts = parse_mounts(split_sections((FIXTURES / "realserver.facts").read_text())["mounts"])
    nfs = [m for m in mounts if m.path == "/var/www/html"][0]
    assert (nfs.src, nfs.fstype) == ("10.20.0.20:/srv/lvs/content", "nfs4")
    assert nfs.opts.startswith("ro,relatime,vers=4.2,")
    assert Mount("/dev/vdb", "/srv/lvs scratch", "ext4", "rw,relatime") in mounts  # \040 is a space
