"""lvsdeploy/lab/topology.py: what each lab topology boots (no VM needed)."""

import pytest
import yaml

from lvsdeploy.lab.inventory import inventory_data, mode_inventory, with_service_mode
from lvsdeploy.lab.topology import STORAGE_DISK, build


@pytest.mark.parametrize("mode", ["nat", "dr", "tun"])
def test_every_storage_node_has_the_blank_lun_disk(mode):
    # the cluster filesystem steps of each lab export it (TUN's storage node once lost it when given its routes)
    storage = build(mode).vm("storage1")
    assert [name for name, _ in storage.disks] == [STORAGE_DISK]
    assert build(mode, storage=False).vms == [v for v in build(mode).vms if v.group != "storage"]


def test_lab_inventory_in_fullnat_mode_changes_only_the_modes(tmp_path):
    topo = build("nat")
    data = inventory_data(tmp_path, topo, {v.name: 2200 + i for i, v in enumerate(topo.vms)})
    fullnat = with_service_mode(data, "fullnat")
    services = fullnat["all"]["vars"].pop("lvs_virtual_services")
    assert [s["mode"] for s in services] == ["fullnat", "fullnat"]
    assert {k: v for k, v in data["all"]["vars"].items() if k != "lvs_virtual_services"} == fullnat["all"]["vars"]
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(data))
    path = mode_inventory(tmp_path, "fullnat")
    assert path.name == "inventory-fullnat.yml" and "--mode fullnat" in path.read_text().splitlines()[0]
