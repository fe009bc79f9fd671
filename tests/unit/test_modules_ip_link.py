"""ip_link: tunl0 appears with the ipip module, dummies are created, existing devices brought up."""

from pathlib import Path

import pytest

from lvsdeploy.facts import Interface
from lvsdeploy.facts.gather import parse
from lvsdeploy.modules import ip_link
from lvsdeploy.modules.base import ModuleError

FIXTURES = Path(__file__).parent / "fixtures" / "facts"


def load(host):
    return parse((FIXTURES / f"{host}.facts").read_text())


def test_tunl0_missing_because_ipip_loads_earlier_in_the_script():
    facts = load("director")  # no ipip module, no tunl0 yet
    (change,) = ip_link.plan({"name": "tunl0", "kind": "ipip"}, facts)
    assert change.commands == ("ip link set tunl0 up",)
    facts.interfaces["tunl0"] = Interface("tunl0", None, True, "ipip")
    assert ip_link.plan({"name": "tunl0", "kind": "ipip"}, facts) == []


def test_module_argument_loads_it_when_missing():
    (change,) = ip_link.plan({"name": "tunl0", "kind": "ipip", "module": "ipip"}, load("director"))
    assert change.commands == ("modprobe ipip", "ip link set tunl0 up")


def test_dummy_is_created_only_if_missing_then_up():
    facts = load("director")
    (change,) = ip_link.plan({"name": "lvs0", "kind": "dummy"}, facts)
    # Loading the dummy module may create dummy0 on its own: the add is guarded.
    assert change.commands == (
        "ip link show lvs0 >/dev/null 2>&1 || ip link add lvs0 type dummy",
        "ip link set lvs0 up",
    )
    facts.interfaces["lvs0"] = Interface("lvs0", "aa:bb:cc:dd:ee:ff", True, "dummy")
    assert ip_link.plan({"name": "lvs0", "kind": "dummy"}, facts) == []


def test_existing_down_device_is_brought_up():
    facts = load("realserver")
    (change,) = ip_link.plan({"name": "dummy0", "kind": "dummy"}, facts)
    assert change.diff == ("- down", "+ up") and change.commands == ("ip link set dummy0 up",)


def test_absent():
    facts = load("realserver")
    (change,) = ip_link.plan({"name": "dummy0", "state": "absent"}, facts)
    assert change.commands == ("ip link del dummy0",)
    (change,) = ip_link.plan({"name": "tunl0", "kind": "ipip", "state": "absent"}, facts)
    assert change.commands == ("ip link set tunl0 down",)  # the fallback tunnel cannot be deleted
    with pytest.raises(ModuleError, match="does not delete"):
        ip_link.plan({"name": "ens3", "state": "absent"}, facts)


def test_errors():
    with pytest.raises(ModuleError, match="no network device eth9"):
        ip_link.plan({"name": "eth9"}, load("director"))
    facts = load("director")
    facts.interfaces["tunl0"] = Interface("tunl0", None, True, "dummy")
    with pytest.raises(ModuleError, match="kind dummy, not ipip"):
        ip_link.plan({"name": "tunl0", "kind": "ipip"}, facts)


def test_boot_lines():
    facts = load("director")
    tunnel = {"name": "tunl0", "kind": "ipip", "module": "ipip"}
    assert ip_link.boot_lines(tunnel, facts) == ["modprobe ipip", "ip link set tunl0 up"]
    assert ip_link.boot_lines({"name": "lvs0", "kind": "dummy"}, facts)[-1] == "ip link set lvs0 up"
    assert ip_link.boot_lines({"name": "lvs0", "kind": "dummy", "state": "absent"}, facts) == []
