"""The lab's second director and its failover inventory (pure: no VM is booted here)."""

from pathlib import Path

import pytest
import yaml

from lvsdeploy.inventory import load_cluster
from lvsdeploy.lab import topology
from lvsdeploy.lab.inventory import failover_inventory_path, write_inventory


@pytest.mark.parametrize("mode,dips", [("dr", ("10.20.0.2/24", "10.20.0.3/24")),
                                       ("nat", ("10.10.0.1/24", "10.10.0.2/24"))])
def test_a_second_director_on_the_first_ones_segments(mode, dips):
    topo = topology.build(mode, directors=2)
    first, second = topo.vm("director1"), topo.vm("director2")
    assert [s for s, _ in second.nics] == [s for s, _ in first.nics]
    assert (first.host_vars["lvs_dip"], second.host_vars["lvs_dip"]) == dips
    addresses = [a for v in topo.vms for _, a in v.nics]
    assert len(addresses) == len(set(addresses)), "every address of the lab is its own"


def test_tun_and_three_directors_are_refused():
    with pytest.raises(ValueError, match="--directors"):
        topology.build("tun", directors=2)
    with pytest.raises(ValueError, match="--directors"):
        topology.build("dr", directors=3)


@pytest.mark.parametrize("mode", ["dr", "nat"])
def test_the_plain_inventory_keeps_one_director_and_the_failover_one_is_valid(tmp_path: Path, mode):
    topo = topology.build(mode, directors=2)
    ports = {v.name: 2200 + i for i, v in enumerate(topo.vms)}
    plain = load_cluster(write_inventory(tmp_path, topo, ports))
    assert [d.name for d in plain.directors()] == ["director1"] and plain.failover is None
    path = failover_inventory_path(tmp_path)
    pair = load_cluster(path)   # valid: load_cluster raises on any problem
    assert [d.name for d in pair.directors()] == ["director1", "director2"]
    assert pair.hosts["director2"].connection.port == ports["director2"]
    assert pair.directors()[0].health_checker == "keepalived"
    gateway = yaml.safe_load(path.read_text())["all"]["vars"]["lvs_failover"].get("gateway")
    assert (gateway is not None) == (mode == "nat")


def test_one_director_writes_no_failover_inventory(tmp_path: Path):
    topo = topology.build("dr")
    write_inventory(tmp_path, topo, {v.name: 2200 + i for i, v in enumerate(topo.vms)})
    assert not failover_inventory_path(tmp_path).exists()
