"""Host identity, modules (/proc/modules + modules.builtin) and sysctls from /proc/sys."""

import subprocess
from pathlib import Path

import pytest

from lvsdeploy.facts.gather import split_sections
from lvsdeploy.facts.kernel import (
    parse_builtin,
    parse_host,
    parse_modules,
    parse_sysctls,
    sysctl_path,
    sysctl_snippet,
)

FIXTURES = Path(__file__).parent / "fixtures" / "facts"
DIRECTOR = split_sections((FIXTURES / "director.facts").read_text())


def test_host():
    assert parse_host(DIRECTOR["host"]) == ("lvs-director", "6.1.0-18-amd64")


def test_loaded_modules_by_name():
    loaded = parse_modules(DIRECTOR["modules"])
    assert {"ip_vs", "ip_vs_rr", "ip_vs_wlc", "nf_conntrack", "ext4"} <= loaded
    assert "Live" not in loaded and "-" not in loaded


def test_builtin_modules_are_normalised_like_modprobe_names():
    builtin = parse_builtin(DIRECTOR["builtin"])
    assert {"tcp_cubic", "unix", "8250"} <= builtin
    assert "rng_core" in builtin and "intel_uncore" in builtin  # '-' in file names becomes '_'


def test_sysctls_present_absent_and_unreadable():
    assert parse_sysctls(DIRECTOR["sysctl"]) == {
        "net.ipv4.ip_forward": "1",
        "net.ipv4.ip_local_port_range": "32768\t60999",  # kept as the kernel prints it
        "net.ipv4.vs.conntrack": "0",
        "net.ipv4.vs.no_such_key": None,
        "net.ipv4.route.flush": "",  # write-only: exists, no readable value
    }


def test_sysctl_path_follows_sysctl8_slash_rule():
    assert sysctl_path("net.ipv4.ip_forward") == "/proc/sys/net/ipv4/ip_forward"
    assert sysctl_path("net.ipv4.conf.eth0/100.rp_filter") == "/proc/sys/net/ipv4/conf/eth0.100/rp_filter"


def test_sysctl_snippet_rejects_path_tricks():
    with pytest.raises(ValueError):
        sysctl_snippet({"net/../../etc/shadow"})


@pytest.mark.skipif(not Path("/proc/sys/kernel/ostype").exists(), reason="needs Linux /proc/sys")
def test_sysctl_snippet_runs_here():
    # kernel.pid_max has an integer handler, which answers only a read at offset 0: a shell's byte-by-byte
    # `read` would see its first digit only
    snippet = sysctl_snippet({"kernel.ostype", "kernel.no_such_key", "kernel.pid_max"})
    out = subprocess.run(["sh", "-c", snippet], capture_output=True, text=True)
    pid_max = Path("/proc/sys/kernel/pid_max").read_text().strip()
    assert len(pid_max) > 1
    assert parse_sysctls(out.stdout) == {"kernel.ostype": "Linux", "kernel.no_such_key": None,
                                         "kernel.pid_max": pid_max}
