"""The module contract: registry shape, request merging, argument checking."""

import pytest

from lvsdeploy.modules import MODULES, boot_file
from lvsdeploy.modules.base import FactsRequest, ModuleError, check_args

# Modules whose state does not survive a reboot by itself: they say how it is restored at boot.
PERSISTED = {"ip_address", "ip_route", "ip_link", "kernel_module", "sysctl", "ipvs", "snat", "fwmark_marks",
             "ipvs_timeouts"}


def test_registry_lists_every_module_under_its_keyword():
    assert set(MODULES) == {
        "package", "kernel_module", "sysctl", "file", "ip_address", "ip_route",
        "ip_link", "service", "command", "ipvs", "mounts", "boot_file", "iscsi_targets", "iscsi_logins",
        "cluster_filesystem", "corosync_restart", "cluster_stack_cleanup", "node_name", "snat", "fwmark_marks",
        "ipvs_timeouts",
    }  # fmt: skip
    for name, module in MODULES.items():
        assert module.NAME == name
        assert callable(module.facts_needed) and callable(module.plan)
        assert hasattr(module, "persist") == (name in PERSISTED), name
        assert not hasattr(module, "boot_lines"), name


def test_merge_unions_every_kind():
    a = FactsRequest(sysctls={"a"}, files={"/x"})
    a.merge(FactsRequest(sysctls={"b"}, packages={"p"}, units={"u"}))
    assert a == FactsRequest(sysctls={"a", "b"}, files={"/x"}, packages={"p"}, units={"u"})


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
    # The boot_file tasks come last and get what the earlier tasks persist, as plan.py hands it to them.
    import subprocess
    from pathlib import Path

    from lvsdeploy.facts import FileFact, IpvsDest, IpvsService
    from lvsdeploy.facts.gather import parse

    facts = parse((Path(__file__).parent / "fixtures" / "facts" / "director.facts").read_text())
    service = IpvsService("TCP", "10.20.0.10", 8080, None, "wlc",
                          destinations=[IpvsDest("10.20.0.11", 8080, 1, "route")])
    tasks = [
        ("package", {"name": ["nfs-common"]}),
        ("kernel_module", {"name": "ipip"}),
        ("sysctl", {"name": "net.ipv4.ip_local_port_range", "value": "1024 65000"}),
        ("file", {"path": "/etc/ipvsadm.rules", "content": "it's \"quoted\" $(not run)\n"}),
        ("ip_address", {"address": "10.20.0.50/32", "dev": "lo"}),
        ("ip_route", {"dst": "10.40.0.0/24", "via": "10.20.0.3"}),
        ("ip_link", {"name": "tunl0", "module": "ipip"}),
        ("service", {"name": "keepalived", "enabled": True, "state": "started"}),
        ("command", {"cmd": "echo 'a' && echo \"b\"", "creates": "/etc/ipvsadm.rules"}),
        ("ipvs", {"services": [service], "record": "/etc/lvsdeploy/ipvs.managed"}),
        ("mounts", {"present": [{"src": "10.20.0.20:/srv/lvs/content", "path": "/var/www/my html", "opts": "ro"}]}),
    ]
    boot_files = [
        {"kind": "kernel_module", "path": "/etc/modules-load.d/lvsdeploy.conf"},
        {"kind": "sysctl", "path": "/etc/sysctl.d/90-lvsdeploy.conf"},
        {"kind": "network", "path": "/usr/local/sbin/lvsdeploy network", "mode": "0755"},
        {"kind": "ipvs", "path": "/etc/lvsdeploy/ipvs.rules"},
    ]
    script = ["set -e"]
    persisted: dict[str, list[str]] = {}
    for name, args in tasks:
        changes = MODULES[name].plan(args, facts)
        assert changes, name
        script += [c for change in changes for c in change.commands]
        for kind, line in getattr(MODULES[name], "persist", lambda a, f: [])(args, facts):
            assert kind in boot_file.KINDS, (name, kind)
            persisted.setdefault(kind, []).append(line)
    assert set(persisted) == set(boot_file.KINDS)
    for args in boot_files:
        facts.files.setdefault(args["path"], FileFact(False))
        changes = boot_file.plan(args, facts, persisted)
        assert changes, args["kind"]
        script += [c for change in changes for c in change.commands]
    subprocess.run(["sh", "-n"], input="\n".join(script).encode(), check=True)
    # the boot script itself is sh too
    subprocess.run(["sh", "-n"], input=boot_file.content("network", persisted["network"]).encode(), check=True)
