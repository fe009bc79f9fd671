"""Lab tests boot real QEMU VMs: each topology once per run, everything for that mode against it."""

import shutil

import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/lab/" in str(item.fspath):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(autouse=True, scope="session")
def _lab_prerequisites():
    missing = [p for p in ("qemu-system-x86_64", "vde_switch", "debootstrap", "qemu-img") if not shutil.which(p)]
    if missing:
        pytest.fail(f"lab tests need {', '.join(missing)}: run scripts/setup first", pytrace=False)
