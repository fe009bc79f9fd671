"""The module contract: registry shape, request merging, argument checking."""

import pytest

from lvsdeploy.modules import MODULES
from lvsdeploy.modules.base import FactsRequest, ModuleError, check_args

NETWORK = {"ip_address", "ip_route", "ip_link"}


def test_registry_lists_every_module_under_its_keyword():
    assert set(MODULES) == {
        "package", "kernel_module", "sysctl", "file", "ip_address", "ip_route",
        "ip_link", "service", "command", "ipvs", "mount", "mounts",
    }  # fmt: skip
    for name, module in MODULES.items():
        assert module.NAME == name
        assert callable(module.facts_needed) and callable(module.plan)
        assert hasattr(module, "boot_lines") == (name in NETWORK)


def test_merge_unions_every_kind():
    a = FactsRequest(sysctls={"a"}, files={"/x"})
    a.merge(FactsRequest(sysctls={"b"}, packages={"p"}, units={"u"}, unless={"true"}))
    assert a == FactsRequest(sysctls={"a", "b"}, files={"/x"}, packages={"p"}, units={"u"}, unless={"true"})


def test_unknown_and_missing_arguments_are_named():
    with pytest.raises(ModuleError, match="unknown argument.*adress"):
        check_args("ip_address", {"address": "10.0.0.1/32", "adress": 1}, ("address",))
    with pytest.raises(ModuleError, match="missing argument.*value"):
        check_args("sysctl", {"name": "x"}, ("name", "value"))


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_refuses_garbage_args_with_module_error(name):
    with pytest.raises(ModuleError):
        MODULES[name].facts_needed({"no_such_argument": 1})


def test_planned_commands_parse_as_one_sh_script():
    # One plan per module against a fresh-ish director; `sh -n` catches quoting slips in any of them.
    import subprocess
    from pathlib import Path

    from lvsdeploy.facts.gather import parse

    facts = parse((Path(__file__).parent / "fixtures" / "facts" / "director.facts").read_text())
    tasks = [
        ("package", {"name": ["nfs-common"]}),
        ("kernel_module", {"name": "ipip"}),
        ("sysctl", {"name": "net.ipv4.ip_local_port_range", "value": "1024 65000"}),
        ("file", {"path": "/etc/ipvsadm.rules", "content": "it's \"quoted\" $(not run)\n"}),
        ("ip_address", {"address": "10.20.0.50/32", "dev": "lo"}),
        ("ip_route", {"dst": "10.40.0.0/24", "via": "10.20.0.3"}),
        ("ip_link", {"name": "lvs0", "kind": "dummy"}),
        ("service", {"name": "keepalived", "enabled": True, "state": "started"}),
        ("command", {"cmd": "echo 'a' && echo \"b\"", "unless": "test -s /etc/ipvsadm.rules"}),
        ("ipvs", {"services": [{"vip": "10.20.0.10", "port": 8080, "destinations": [{"ip": "10.20.0.11"}]}]}),
        ("mount", {"src": "10.20.0.20:/srv/lvs/content", "path": "/var/www/my html", "opts": "ro"}),
    ]
    script = ["set -e"]
    for name, args in tasks:
        changes = MODULES[name].plan(args, facts)
        assert changes, name
        script += [c for change in changes for c in change.commands]
    subprocess.run(["sh", "-n"], input="\n".join(script).encode(), check=True)
