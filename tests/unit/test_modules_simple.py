"""package, kernel_module, sysctl: (args, facts) -> changes, and empty once applied."""

import subprocess

import pytest

from lvsdeploy.facts import HostFacts
from lvsdeploy.modules import kernel_module, package, sysctl
from lvsdeploy.modules.base import FactsRequest, ModuleError


def test_package_installs_only_what_is_missing_in_one_apt_call():
    facts = HostFacts(packages={"ipvsadm": "1:1.31-1+b1", "nfs-common": None, "rsync": None})
    args = {"name": ["ipvsadm", "nfs-common", "rsync"]}
    assert package.facts_needed(args) == FactsRequest(packages={"ipvsadm", "nfs-common", "rsync"})
    (change,) = package.plan(args, facts)
    assert change.diff == ("+ nfs-common installed", "+ rsync installed")
    (command,) = change.commands
    assert "apt-get install -y --no-install-recommends nfs-common rsync" in command
    assert "lvsdeploy: package(s) nfs-common rsync not installed and could not be installed" in command
    assert "exit 1" in command
    facts.packages.update({"nfs-common": "1:2.6.2-4", "rsync": "3.2.7-1"})
    assert package.plan(args, facts) == []


def test_package_failure_message_and_exit_status_when_apt_cannot_install(tmp_path):
    # A fake apt-get that always fails: the wrapper must print the message and exit 1 under set -e.
    (tmp_path / "apt-get").write_text("#!/bin/sh\nexit 100\n")
    (tmp_path / "apt-get").chmod(0o755)
    (command,) = package.plan({"name": "ipvsadm"}, HostFacts()).pop().commands
    script = f"set -e\nPATH={tmp_path}:$PATH\n{command}\necho after"
    run = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
    assert run.returncode == 1 and "after" not in run.stdout
    assert "package(s) ipvsadm not installed and could not be installed (no package mirror reachable?)" in run.stderr


def test_package_name_is_checked():
    with pytest.raises(ModuleError, match="not a Debian package name"):
        package.facts_needed({"name": "ipvsadm; rm -rf /"})


def test_kernel_module_loaded_or_builtin_is_ok():
    facts = HostFacts(modules_loaded={"ip_vs", "tcp_cubic"})
    assert kernel_module.plan({"name": "ip_vs"}, facts) == []
    (change,) = kernel_module.plan({"name": "ip-vs-rr"}, facts)  # modprobe spelling, kernel name
    assert change.commands == ("modprobe ip_vs_rr",) and change.resource == "kernel module ip_vs_rr"
    facts.modules_loaded.add("ip_vs_rr")
    assert kernel_module.plan({"name": "ip-vs-rr"}, facts) == []


def test_sysctl_writes_runtime_value_and_compares_normalised():
    facts = HostFacts(sysctls={"net.ipv4.ip_forward": "0", "net.ipv4.ip_local_port_range": "32768\t60999"})
    (change,) = sysctl.plan({"name": "net.ipv4.ip_forward", "value": 1}, facts)
    assert change.diff == ("- 0", "+ 1")
    assert change.commands == ("sysctl -q -w net.ipv4.ip_forward=1",)
    assert sysctl.plan({"name": "net.ipv4.ip_local_port_range", "value": "32768 60999"}, facts) == []
    facts.sysctls["net.ipv4.ip_forward"] = "1"
    assert sysctl.plan({"name": "net.ipv4.ip_forward", "value": "1"}, facts) == []


def test_sysctl_absent_key_is_still_written_and_quoted():
    # net.ipv4.vs.* only exists once ip_vs is loaded, possibly earlier in the same script.
    (change,) = sysctl.plan({"name": "net.ipv4.ip_local_port_range", "value": "1024 65000"}, HostFacts())
    assert change.diff == ("- <absent>", "+ 1024 65000")
    assert change.commands == ("sysctl -q -w 'net.ipv4.ip_local_port_range=1024 65000'",)
    assert sysctl.facts_needed({"name": "net.ipv4.vs.conntrack", "value": 1}).sysctls == {"net.ipv4.vs.conntrack"}
