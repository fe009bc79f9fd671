"""Lab tests boot real QEMU VMs: each topology once per run, everything for that mode against it."""

import shutil
from pathlib import Path

import pytest
from rich.console import Console

from lvsdeploy.lab import control

from .lab import cli


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(autouse=True, scope="session")
def _lab_prerequisites():
    missing = [p for p in ("qemu-system-x86_64", "vde_switch", "debootstrap", "qemu-img") if not shutil.which(p)]
    if missing:
        pytest.fail(f"lab tests need {', '.join(missing)}: run scripts/setup first", pytrace=False)


@pytest.fixture(scope="class")
def lab(request):
    """The test class's topology (MODE), booted once under its own lab name (LAB), down at the end."""
    console = Console()
    control.down(console, request.cls.LAB, quiet=True)
    state = control.up(console, request.cls.MODE, request.cls.LAB, directors=getattr(request.cls, "DIRECTORS", 1))
    yield state
    control.down(console, request.cls.LAB, quiet=True)


@pytest.fixture(scope="class")
def inventory(lab) -> Path:
    return lab.dir / "inventory.yml"


@pytest.fixture(scope="class")
def converged(inventory):
    """The class's lab after its first `lvsdeploy apply`, run once for the class whichever steps are selected
    (so each step also runs alone with -k). The apply's CompletedProcess, for the step that checks it."""
    return cli("apply", "--yes", "--detailed-exitcode", "-v", str(inventory))


@pytest.fixture(scope="class")
def pair(request) -> Path:
    """The class's lab with both directors failing over (a lab with DIRECTORS = 2), applied once for the class
    from the single-director lab; the failover inventory's path. Skipped, before any boot, on the others (tun)."""
    if getattr(request.cls, "DIRECTORS", 1) < 2:
        pytest.skip("shown on the DR lab, which boots a second director (and on NAT with LVSDEPLOY_TEST_ALL=1)")
    from lvsdeploy.lab.inventory import failover_inventory_path

    from . import failover_checks
    lab = request.getfixturevalue("lab")
    request.getfixturevalue("converged")
    path = failover_inventory_path(lab.dir)
    failover_checks.pair_applied_one_director_at_a_time(lab, lab.name, path)
    return path


@pytest.fixture(scope="class")
def cluster_fs(request):
    """The class's lab with its cluster filesystem share (CLUSTER_FS: gfs2 on DR, ocfs2 on TUN) applied once from
    the converged lab: plan showed the mkfs, apply made it, the next plan is empty, verify passed. Its inventory,
    type, the filesystem's UUID, and the lab's own inventory to go back to."""
    fstype = getattr(request.cls, "CLUSTER_FS", None)
    if fstype is None:
        pytest.skip("a cluster filesystem is shown on the DR (gfs2) and TUN (ocfs2) labs")
    from types import SimpleNamespace

    from lvsdeploy.lab.inventory import cluster_fs_inventory

    from . import cluster_fs_checks
    lab = request.getfixturevalue("lab")
    base = request.getfixturevalue("inventory")
    request.getfixturevalue("converged")
    path = cluster_fs_inventory(lab.dir, fstype)
    made = cluster_fs_checks.applied_once_made_once(lab.name, path, fstype)
    return SimpleNamespace(fstype=fstype, inventory=path, uuid=made, base=base, lab=lab)
