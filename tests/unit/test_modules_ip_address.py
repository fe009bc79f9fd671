"""ip_address: finding the interface from a network, moving and removing addresses, the boot script line."""

from ipaddress import IPv4Interface
from pathlib import Path

import pytest

from lvsdeploy.facts.gather import parse
from lvsdeploy.modules import ip_address
from lvsdeploy.modules.base import ModuleError

FIXTURES = Path(__file__).parent / "fixtures" / "facts"


def load(host):
    return parse((FIXTURES / f"{host}.facts").read_text())


def test_director_vip_already_on_the_subnet_interface_is_ok():
    # 10.20.0.10/32 sits on ens3, the interface whose 10.20.0.0/24 contains it.
    assert ip_address.plan({"address": "10.20.0.10/32"}, load("director")) == []


def test_director_ip_placed_by_its_own_network():
    # The DIP's own /24 is on ens3: that is where it belongs.
    args = {"address": "10.20.0.2/24", "hint": "lvs_dip_interface"}
    assert ip_address.plan(args, load("director")) == []


def test_stray_vip_copy_follows_the_subnet():
    facts = load("director")
    facts.interfaces["ens4"].addresses.append(IPv4Interface("10.20.0.10/32"))
    (change,) = ip_address.plan({"address": "10.20.0.10/32"}, facts)
    assert change.commands == ("ip addr del 10.20.0.10/32 dev ens4",)


def test_new_vip_goes_to_the_interface_whose_network_contains_it():
    facts = load("director")
    (change,) = ip_address.plan({"address": "10.20.0.50/32"}, facts)
    assert change.resource == "address 10.20.0.50/32 dev ens3"
    assert change.diff == ("+ 10.20.0.50/32 dev ens3",)
    assert change.commands == ("ip addr replace 10.20.0.50/32 dev ens3",)
    facts.interfaces["ens3"].addresses.append(IPv4Interface("10.20.0.50/32"))
    assert ip_address.plan({"address": "10.20.0.50/32"}, facts) == []


def test_most_specific_network_wins():
    facts = load("director")
    facts.interfaces["ens4"].addresses.append(IPv4Interface("10.0.0.1/8"))
    (change,) = ip_address.plan({"address": "10.20.0.50/32"}, facts)
    assert change.commands == ("ip addr replace 10.20.0.50/32 dev ens3",)  # /24 on ens3 beats /8 on ens4
    (change,) = ip_address.plan({"address": "10.99.0.50/32"}, facts)
    assert change.commands == ("ip addr replace 10.99.0.50/32 dev ens4",)  # only the /8 covers it


def test_near_was_removed():
    # The device comes from the address's own network; a `near` hint is now an unknown argument.
    with pytest.raises(ModuleError, match="unknown argument.*near"):
        ip_address.facts_needed({"address": "10.20.0.50/32", "near": "10.20.0.1"})


def test_no_interface_names_the_address_and_the_inventory_variable():
    args = {"address": "192.168.9.10/32", "hint": "lvs_vip_interface"}
    with pytest.raises(ModuleError, match=r"192\.168\.9\.10/32.*lvs_vip_interface"):
        ip_address.plan(args, load("director"))


def test_address_on_the_wrong_device_moves_to_lo():
    # A real server whose VIP sits on tunl0 switches to LVS-DR (VIP on lo).
    facts = load("realserver")
    (change,) = ip_address.plan({"address": "10.20.0.10/32", "dev": "lo"}, facts)
    assert change.diff == ("- 10.20.0.10/32 dev tunl0", "+ 10.20.0.10/32 dev lo")
    assert change.commands == ("ip addr del 10.20.0.10/32 dev tunl0", "ip addr replace 10.20.0.10/32 dev lo")
    facts.interfaces["tunl0"].addresses.clear()
    facts.interfaces["lo"].addresses.append(IPv4Interface("10.20.0.10/32"))
    assert ip_address.plan({"address": "10.20.0.10/32", "dev": "lo"}, facts) == []


def test_wrong_prefix_is_replaced():
    facts = load("director")
    facts.interfaces["ens3"].addresses[1] = IPv4Interface("10.20.0.10/24")
    (change,) = ip_address.plan({"address": "10.20.0.10/32"}, facts)
    assert change.commands == ("ip addr del 10.20.0.10/24 dev ens3", "ip addr replace 10.20.0.10/32 dev ens3")


def test_absent_deletes_wherever_it_is():
    facts = load("director")
    (change,) = ip_address.plan({"address": "10.20.0.10/32", "state": "absent"}, facts)
    assert change.commands == ("ip addr del 10.20.0.10/32 dev ens3",)
    facts.interfaces["ens3"].addresses.pop()
    assert ip_address.plan({"address": "10.20.0.10/32", "state": "absent"}, facts) == []


def test_persist_resolves_the_device():
    facts = load("director")
    assert ip_address.persist({"address": "10.20.0.10/32"}, facts) == [
        ("network", "ip addr replace 10.20.0.10/32 dev ens3")
    ]
    assert ip_address.persist({"address": "10.20.0.10/32", "dev": "lo"}, facts) == [
        ("network", "ip addr replace 10.20.0.10/32 dev lo")
    ]
    assert ip_address.persist({"address": "10.20.0.10/32", "state": "absent"}, facts) == []
    with pytest.raises(ModuleError, match="lvs_vip_interface"):
        ip_address.persist({"address": "192.168.9.10/32", "hint": "lvs_vip_interface"}, facts)


def test_address_needs_a_prefix():
    with pytest.raises(ModuleError, match="prefix"):
        ip_address.facts_needed({"address": "10.20.0.10"})
