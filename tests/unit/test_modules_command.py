"""command: guarded by creates (required), so a plan can come back empty."""

import pytest

from lvsdeploy.facts import FileFact, HostFacts
from lvsdeploy.modules import command
from lvsdeploy.modules.base import FactsRequest, ModuleError

SAVE = "ipvsadm-save -n > /etc/ipvsadm.rules"


def test_creates():
    args = {"cmd": SAVE, "creates": "/etc/ipvsadm.rules"}
    assert command.facts_needed(args) == FactsRequest(files={"/etc/ipvsadm.rules"})
    (change,) = command.plan(args, HostFacts(files={"/etc/ipvsadm.rules": FileFact(False)}))
    assert change.resource == f"command {SAVE}"
    assert change.commands == ("sh -c 'ipvsadm-save -n > /etc/ipvsadm.rules'",)
    assert change.diff == ("~ because /etc/ipvsadm.rules does not exist", f"+ run: {SAVE}")
    saved = FileFact(True, b"", "0644", "root", "root", "file")
    assert command.plan(args, HostFacts(files={"/etc/ipvsadm.rules": saved})) == []


def test_creates_path_is_normalised_and_a_directory_counts():
    args = {"cmd": "mkdir -p /srv/lvs/content", "creates": "/srv/lvs//content/"}
    assert command.facts_needed(args) == FactsRequest(files={"/srv/lvs/content"})
    made = FileFact(True, None, "0755", "root", "root", "directory")
    assert command.plan(args, HostFacts(files={"/srv/lvs/content": made})) == []


def test_long_command_summary_is_cut():
    cmd = "echo " + "x" * 80 + "\necho done"
    (change,) = command.plan({"cmd": cmd, "creates": "/x"}, HostFacts(files={"/x": FileFact(False)}))
    assert change.resource == f"command {cmd[:57]}..."
    assert change.diff[-1] == f"+ run: {cmd}"


@pytest.mark.parametrize("args, message", [
    ({"cmd": "echo hi"}, "missing argument.*creates"),   # no guard: it would run on every apply
    ({"creates": "/x"}, "missing argument.*cmd"),
    ({"cmd": "exportfs -ra", "unless": "exportfs -s | grep -q /srv/lvs"}, "missing argument.*creates"),
    ({"cmd": "exportfs -ra", "creates": "/x", "unless": "true"}, "unknown argument.*unless"),   # unless was removed
    ({"cmd": "echo hi", "creates": "relative/path"}, "absolute file path"),
    ({"cmd": "  ", "creates": "/x"}, "must not be empty"),
])  # fmt: skip
def test_arguments_are_checked(args, message):
    with pytest.raises(ModuleError, match=message):
        command.facts_needed(args)


def test_facts_not_gathered_is_an_error_not_a_guess():
    with pytest.raises(ModuleError, match="no facts were read for /x"):
        command.plan({"cmd": "x", "creates": "/x"}, HostFacts())
