"""boot_file: the lines earlier tasks persist, one file per kind, written through the file module."""

import base64
import re
import subprocess
from pathlib import Path

import pytest

from lvsdeploy.facts import FileFact, HostFacts
from lvsdeploy.facts.gather import parse
from lvsdeploy.modules import MODULES, boot_file, ip_address, ip_link, kernel_module, sysctl
from lvsdeploy.modules.base import FactsRequest, ModuleError

FIXTURES = Path(__file__).parent / "fixtures" / "facts"
MODULES_CONF = "/etc/modules-load.d/lvsdeploy.conf"
SYSCTL_CONF = "/etc/sysctl.d/90-lvsdeploy.conf"
NETWORK_SCRIPT = "/usr/local/sbin/lvsdeploy-network"
IPVS_RULES = "/etc/lvsdeploy/ipvs.rules"

PERSISTED = {
    "kernel_module": ["ip_vs", "ip_vs_rr", "ip_vs", "ipip"],
    "sysctl": ["net.ipv4.ip_forward = 1", "net.ipv4.conf.all.arp_ignore = 1", "net.ipv4.ip_forward = 1"],
    "network": ["modprobe ipip", "ip link set tunl0 up", "ip addr replace 10.20.0.10/32 dev tunl0"],
    "ipvs": ["-A -t 10.20.0.10:80 -s rr", "-a -t 10.20.0.10:80 -r 10.20.0.11:80 -i -w 1"],
}


def existing(content: bytes, mode="0644", owner="root", group="root") -> FileFact:
    return FileFact(True, content, mode, owner, group, "file")


def facts_with(path, fact) -> HostFacts:
    return HostFacts(files={path: fact})


def written(change) -> bytes:
    """The content a change writes (the base64 payload of the file module's atomic write)."""
    (payload,) = [m.group(1) for c in change.commands for m in [re.search(r"printf '%s' '([^']*)' \| base64", c)] if m]
    return base64.b64decode(payload)


# ---- content ------------------------------------------------------------------------------------------------


def test_registered():
    assert MODULES["boot_file"] is boot_file
    assert set(boot_file.KINDS) == {"kernel_module", "sysctl", "network", "ipvs"}


def test_each_line_once_in_the_order_the_tasks_produced_them():
    text = boot_file.content("kernel_module", PERSISTED["kernel_module"])
    assert text.startswith("# ")  # a header says who manages the file
    assert text.splitlines()[-3:] == ["ip_vs", "ip_vs_rr", "ipip"]
    assert text.endswith("ipip\n")
    text = boot_file.content("sysctl", PERSISTED["sysctl"])
    assert text.startswith("# ")
    assert text.splitlines()[-2:] == ["net.ipv4.ip_forward = 1", "net.ipv4.conf.all.arp_ignore = 1"]
    assert text.count("net.ipv4.ip_forward") == 1


def test_header_and_body_per_kind():
    for kind in ("kernel_module", "sysctl"):
        header = boot_file.content(kind, [])
        assert header and all(line.startswith("#") for line in header.splitlines())
        assert "lvsdeploy" in header
        assert boot_file.content(kind, ["x", "y", "x"]) == header + "x\ny\n"


def test_network_script_is_sh_that_stops_at_the_first_failure():
    text = boot_file.content("network", PERSISTED["network"])
    lines = text.splitlines()
    assert lines[0] == "#!/bin/sh"
    assert "set -e" in lines
    # set -e comes before any command; the commands follow in order, each once
    commands = [line for line in lines if line and not line.startswith("#")]
    assert commands == ["set -e", *PERSISTED["network"]]
    subprocess.run(["sh", "-n"], input=text.encode(), check=True)
    # an empty script is still a valid script
    empty = boot_file.content("network", [])
    assert empty.startswith("#!/bin/sh\n") and "set -e" in empty.splitlines()
    subprocess.run(["sh", "-n"], input=empty.encode(), check=True)


def test_ipvs_rules_have_no_header():
    # `ipvsadm -R` reads rules only: the file is the rules, one a line.
    assert boot_file.content("ipvs", PERSISTED["ipvs"]) == "".join(f"{line}\n" for line in PERSISTED["ipvs"])
    assert boot_file.content("ipvs", PERSISTED["ipvs"] + PERSISTED["ipvs"][:1]) == boot_file.content(
        "ipvs", PERSISTED["ipvs"]
    )
    assert boot_file.content("ipvs", []) == ""


def test_lines_from_the_modules_persist():
    # What the modules persist is what the boot file holds, task after task, as plan.py collects it.
    facts = parse((FIXTURES / "realserver.facts").read_text())
    persisted: dict[str, list[str]] = {}
    for module, args in [
        (kernel_module, {"name": "ipip"}),
        (sysctl, {"name": "net.ipv4.conf.all.arp_ignore", "value": 1}),
        (ip_link, {"name": "tunl0", "module": "ipip"}),
        (ip_address, {"address": "10.20.0.10/32", "dev": "tunl0"}),
        (kernel_module, {"name": "ipip"}),
    ]:
        for kind, line in module.persist(args, facts):
            persisted.setdefault(kind, []).append(line)
    assert boot_file.content("kernel_module", persisted["kernel_module"]).endswith("\nipip\n")
    assert boot_file.content("sysctl", persisted["sysctl"]).endswith("\nnet.ipv4.conf.all.arp_ignore = 1\n")
    network = boot_file.content("network", persisted["network"])
    assert network.endswith("\nmodprobe ipip\nip link set tunl0 up\nip addr replace 10.20.0.10/32 dev tunl0\n")


def test_kernel_module_and_sysctl_persist_their_canonical_spelling():
    # The kernel's spelling of a module and the normalised value: two spellings make one line.
    assert kernel_module.persist({"name": "ip-vs-rr"}, HostFacts()) == [("kernel_module", "ip_vs_rr")]
    assert kernel_module.persist({"name": "ip_vs_rr"}, HostFacts()) == [("kernel_module", "ip_vs_rr")]
    range_ = {"name": "net.ipv4.ip_local_port_range", "value": "1024\t 65000"}
    assert sysctl.persist(range_, HostFacts()) == [("sysctl", "net.ipv4.ip_local_port_range = 1024 65000")]
    assert sysctl.persist({"name": "net.ipv4.ip_forward", "value": 1}, HostFacts()) == [
        ("sysctl", "net.ipv4.ip_forward = 1")
    ]
    with pytest.raises(ModuleError):
        kernel_module.persist({"name": "ipip; reboot"}, HostFacts())
    with pytest.raises(ModuleError):
        sysctl.persist({"name": "net.ipv4.ip_forward"}, HostFacts())


# ---- plan -----------------------------------------------------------------------------------------------


def test_facts_needed_is_the_file():
    args = {"kind": "network", "path": NETWORK_SCRIPT, "mode": "0755"}
    assert boot_file.facts_needed(args) == FactsRequest(files={NETWORK_SCRIPT})


def test_missing_file_is_written_with_its_mode_then_nothing():
    args = {"kind": "network", "path": NETWORK_SCRIPT, "mode": "0755"}
    facts = facts_with(NETWORK_SCRIPT, FileFact(False))
    (change,) = boot_file.plan(args, facts, PERSISTED)
    assert change.resource == f"file {NETWORK_SCRIPT}"
    assert written(change) == boot_file.content("network", PERSISTED["network"]).encode()
    assert "chmod 0755 \"$lvs_tmp\"" in change.commands
    assert "+set -e" in change.diff and "+ip link set tunl0 up" in change.diff
    # only the lines of its own kind
    assert not any("ip_vs_rr" in line or "arp_ignore" in line for line in change.diff)
    # Idempotence: the file as written is the file wanted.
    facts.files[NETWORK_SCRIPT] = existing(written(change), mode="0755")
    assert boot_file.plan(args, facts, PERSISTED) == []


def test_file_with_that_content_is_left_alone():
    content = boot_file.content("kernel_module", PERSISTED["kernel_module"]).encode()
    facts = facts_with(MODULES_CONF, existing(content))
    assert boot_file.plan({"kind": "kernel_module", "path": MODULES_CONF}, facts, PERSISTED) == []
    # ipvs: no header, the rules alone
    rules = "".join(f"{line}\n" for line in PERSISTED["ipvs"]).encode()
    facts = facts_with(IPVS_RULES, existing(rules))
    assert boot_file.plan({"kind": "ipvs", "path": IPVS_RULES}, facts, PERSISTED) == []


def test_file_that_differs_is_rewritten_and_its_metadata_fixed():
    # The director fixture has an older sysctl file: one line, no header, mode 0600, group adm.
    facts = parse((FIXTURES / "director.facts").read_text())
    args = {"kind": "sysctl", "path": SYSCTL_CONF}
    (change,) = boot_file.plan(args, facts, PERSISTED)
    assert written(change) == boot_file.content("sysctl", PERSISTED["sysctl"]).encode()
    assert "+net.ipv4.conf.all.arp_ignore = 1" in change.diff
    assert " net.ipv4.ip_forward = 1" in change.diff  # kept, not rewritten as a change of its own
    assert change.diff[-2:] == ("~ mode 0600 -> 0644", "~ group adm -> root")
    facts.files[SYSCTL_CONF] = existing(written(change))
    assert boot_file.plan(args, facts, PERSISTED) == []


def test_a_kind_nothing_persisted_is_a_header_only_file():
    facts = facts_with(SYSCTL_CONF, existing(b"net.ipv4.ip_forward = 1\n"))
    (change,) = boot_file.plan({"kind": "sysctl", "path": SYSCTL_CONF}, facts, {"network": PERSISTED["network"]})
    assert written(change) == boot_file.content("sysctl", []).encode()
    assert "-net.ipv4.ip_forward = 1" in change.diff  # what no task persists any more leaves the file


def test_facts_not_gathered_is_an_error():
    with pytest.raises(ModuleError, match="no facts were read"):
        boot_file.plan({"kind": "ipvs", "path": IPVS_RULES}, HostFacts(), PERSISTED)


@pytest.mark.parametrize("args, message", [
    ({"kind": "crontab", "path": "/etc/cron.d/lvsdeploy"}, "kind must be one of kernel_module, sysctl, network, ipvs"),
    ({"kind": "ip_link", "path": NETWORK_SCRIPT}, "kind must be one of"),
    ({"path": SYSCTL_CONF}, "missing argument.*kind"),
    ({"kind": "sysctl"}, "missing argument.*path"),
    ({"kind": "sysctl", "path": SYSCTL_CONF, "content": "x"}, "unknown argument.*content"),
    ({"kind": "sysctl", "path": "etc/sysctl.d/x.conf"}, "absolute file path"),
    ({"kind": "network", "path": NETWORK_SCRIPT, "mode": 755}, "mode must be a quoted string"),
])  # fmt: skip
def test_bad_arguments_are_refused(args, message):
    with pytest.raises(ModuleError, match=message):
        boot_file.facts_needed(args)
    facts = facts_with(args.get("path") or SYSCTL_CONF, FileFact(False))
    with pytest.raises(ModuleError, match=message):
        boot_file.plan(args, facts, PERSISTED)
