"""command: guarded by creates or unless; refused without a guard."""

import pytest

from lvsdeploy.facts import FileFact, HostFacts
from lvsdeploy.modules import command
from lvsdeploy.modules.base import FactsRequest, ModuleError

SAVE = "ipvsadm-save -n > /etc/ipvsadm.rules"


def test_creates():
    args = {"cmd": SAVE, "creates": "/etc/ipvsadm.rules"}
    assert command.facts_needed(args) == FactsRequest(files={"/etc/ipvsadm.rules"})
    (change,) = command.plan(args, HostFacts(files={"/etc/ipvsadm.rules": FileFact(False)}))
    assert change.commands == ("sh -c 'ipvsadm-save -n > /etc/ipvsadm.rules'",)
    assert change.diff == ("~ because /etc/ipvsadm.rules does not exist", f"+ run: {SAVE}")
    saved = FileFact(True, b"", "0644", "root", "root", "file")
    assert command.plan(args, HostFacts(files={"/etc/ipvsadm.rules": saved})) == []


def test_unless():
    args = {"cmd": "exportfs -ra", "unless": "exportfs -s | grep -q /srv/lvs"}
    assert command.facts_needed(args) == FactsRequest(unless={"exportfs -s | grep -q /srv/lvs"})
    (change,) = command.plan(args, HostFacts(unless={"exportfs -s | grep -q /srv/lvs": 1}))
    assert change.commands == ("sh -c 'exportfs -ra'",)
    assert command.plan(args, HostFacts(unless={"exportfs -s | grep -q /srv/lvs": 0})) == []


def test_unguarded_command_is_refused():
    with pytest.raises(ModuleError, match="no guard"):
        command.facts_needed({"cmd": "echo hi"})


def test_facts_not_gathered_is_an_error_not_a_guess():
    with pytest.raises(ModuleError, match="not run"):
        command.plan({"cmd": "x", "unless": "true"}, HostFacts())
