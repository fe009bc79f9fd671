"""lvsdeploy/lab/topology.py: what each lab topology boots (no VM needed)."""

import pytest

from lvsdeploy.lab.topology import STORAGE_DISK, build


@pytest.mark.parametrize("mode", ["nat", "dr", "tun"])
def test_every_storage_node_has_the_blank_lun_disk(mode):
    # the cluster filesystem steps of each lab export it (TUN's storage node once lost it when given its routes)
    storage = build(mode).vm("storage1")
    assert [name for name, _ in storage.disks] == [STORAGE_DISK]
    assert build(mode, storage=False).vms == [v for v in build(mode).vms if v.group != "storage"]
