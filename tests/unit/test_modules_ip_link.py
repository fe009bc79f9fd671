"""ip_link: an existing device is brought up; a missing one appears when its kernel module loads (tunl0)."""

from pathlib import Path

import pytest

from lvsdeploy.facts import Interface
from lvsdeploy.facts.gather import parse
from lvsdeploy.modules import ip_link
from lvsdeploy.modules.base import FactsRequest, ModuleError

FIXTURES = Path(__file__).parent / "fixtures" / "facts"


def load(host):
    return parse((FIXTURES / f"{host}.facts").read_text())


def test_existing_up_device_is_left_alone():
    assert ip_link.plan({"name": "ens3"}, load("director")) == []
    # tunl0 exists and is up on the real server: nothing to load, nothing to do.
    assert ip_link.plan({"name": "tunl0", "module": "ipip"}, load("realserver")) == []


def test_existing_down_device_is_brought_up():
    facts = load("realserver")
    (change,) = ip_link.plan({"name": "dummy0"}, facts)
    assert change.resource == "link dummy0"
    assert change.diff == ("- down", "+ up") and change.commands == ("ip link set dummy0 up",)
    # The device is there: its module is not loaded again.
    (change,) = ip_link.plan({"name": "dummy0", "module": "dummy"}, facts)
    assert change.commands == ("ip link set dummy0 up",)
    facts.interfaces["dummy0"].up = True
    assert ip_link.plan({"name": "dummy0"}, facts) == []


def test_missing_tunl0_loads_its_module_then_comes_up():
    facts = load("director")  # no ipip module, no tunl0 yet
    (change,) = ip_link.plan({"name": "tunl0", "module": "ipip"}, facts)
    assert change.resource == "link tunl0"
    assert change.diff == ("+ tunl0 up",)
    assert change.commands == ("modprobe ipip", "ip link set tunl0 up")
    # Once the module loaded the kernel made tunl0: converged.
    facts.modules_loaded.add("ipip")
    facts.interfaces["tunl0"] = Interface("tunl0", None, True, "ipip")
    assert ip_link.plan({"name": "tunl0", "module": "ipip"}, facts) == []


def test_module_already_loaded_is_not_loaded_again():
    # The facts say ipip is loaded (an earlier apply), yet tunl0 is not listed: only bring it up.
    facts = load("director")
    facts.modules_loaded.add("ipip")
    (change,) = ip_link.plan({"name": "tunl0", "module": "ipip"}, facts)
    assert change.commands == ("ip link set tunl0 up",)
    # modprobe spells names with '-' or '_'; the kernel lists them with '_'.
    facts.modules_loaded.add("ip_gre")
    (change,) = ip_link.plan({"name": "gre0", "module": "ip-gre"}, facts)
    assert change.commands == ("ip link set gre0 up",)


def test_missing_device_without_module_is_an_error():
    with pytest.raises(ModuleError, match="no network device eth9"):
        ip_link.plan({"name": "eth9"}, load("director"))
    with pytest.raises(ModuleError, match="no network device tunl0"):
        ip_link.plan({"name": "tunl0"}, load("director"))


@pytest.mark.parametrize("args, message", [
    ({"name": "tunl0", "kind": "ipip"}, "unknown argument.*kind"),   # kind (dummy, ipip) was removed
    ({"name": "dummy0", "state": "absent"}, "unknown argument.*state"),   # so was state absent
    ({"module": "ipip"}, "missing argument"),
    ({"name": "a/b"}, "not a network device name"),
    ({"name": "a" * 16}, "not a network device name"),
    ({"name": ""}, "not a network device name"),
    ({"name": 3}, "not a network device name"),
    ({"name": "tunl0", "module": "ipip; reboot"}, "kernel module name"),
    ({"name": "tunl0", "module": ["ipip"]}, "kernel module name"),
])  # fmt: skip
def test_arguments_are_checked(args, message):
    with pytest.raises(ModuleError, match=message):
        ip_link.facts_needed(args)


def test_facts_needed_reads_nothing_extra():
    assert ip_link.facts_needed({"name": "tunl0", "module": "ipip"}) == FactsRequest()  # links are always read


def test_persist_loads_the_module_then_brings_the_device_up():
    # At boot no module is loaded yet: the modprobe is always in the script, whatever the facts say now.
    for host in ("director", "realserver"):
        assert ip_link.persist({"name": "tunl0", "module": "ipip"}, load(host)) == [
            ("network", "modprobe ipip"),
            ("network", "ip link set tunl0 up"),
        ]
    assert ip_link.persist({"name": "ens4"}, load("director")) == [("network", "ip link set ens4 up")]
    with pytest.raises(ModuleError, match="unknown argument"):
        ip_link.persist({"name": "lvs0", "kind": "dummy"}, load("director"))
