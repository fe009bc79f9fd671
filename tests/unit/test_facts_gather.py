"""The one facts command: shape of the script, and parsing a whole captured run."""

import subprocess
from pathlib import Path

import pytest

from lvsdeploy.facts.gather import SECTIONS, FactsError, build_command, parse, split_sections
from lvsdeploy.modules.base import FactsRequest

FIXTURES = Path(__file__).parent / "fixtures" / "facts"


def request():
    return FactsRequest(
        sysctls={"net.ipv4.ip_forward"},
        files={"/etc/fstab", "/etc/with space"},
        packages={"ipvsadm"},
        units={"ipvsadm"},
    )


def test_every_section_is_printed_in_order_and_the_end_is_marked():
    script = build_command(request())
    markers = [line.split()[-1].strip("'") for line in script.splitlines() if line.startswith("echo '@@lvsfacts")]
    assert markers == [*SECTIONS, "end"]


def test_no_section_runs_user_commands():
    # The `unless` reader (shell tests of the command module) is gone: facts run only lvsdeploy's own readers.
    script = build_command(request())
    assert "unless" not in SECTIONS and "@@lvsfacts unless" not in script
    assert not hasattr(parse((FIXTURES / "director.facts").read_text()), "unless")


def test_script_is_valid_posix_sh():
    # `sh -n` parses without running: quoting mistakes in any snippet show up here.
    subprocess.run(["sh", "-n", "-c", build_command(request())], check=True)


def test_reading_never_loads_modules_or_writes():
    script = build_command(request())
    assert "modprobe" not in script and "sysctl -w" not in script
    # ipvsadm would auto-load ip_vs: it only runs behind the /proc/net/ip_vs check.
    assert script.index("[ -e /proc/net/ip_vs ]") < script.index("ipvsadm -Sn")


def test_parse_director_capture():
    facts = parse((FIXTURES / "director.facts").read_text())
    assert (facts.hostname, facts.kernel_release) == ("lvs-director", "6.1.0-18-amd64")
    assert set(facts.interfaces) == {"lo", "ens3", "ens4"}
    assert {"ip_vs", "ip_vs_rr", "tcp_cubic"} <= facts.modules_loaded
    assert facts.packages == {"ipvsadm": "1:1.31-1+b1", "keepalived": None, "nfs-common": None}
    assert len(facts.ipvs.services) == 5 and facts.notes == []


def test_parse_realserver_capture_says_why_there_is_no_ipvs_table():
    facts = parse((FIXTURES / "realserver.facts").read_text())
    assert facts.ipvs is None
    assert "not loaded" in facts.notes[0]


def test_truncated_output_is_an_error_not_empty_facts():
    text = (FIXTURES / "director.facts").read_text()
    with pytest.raises(FactsError, match="incomplete"):
        parse(text[: text.index("@@lvsfacts ipvs")])


def test_missing_section_is_named():
    text = (FIXTURES / "director.facts").read_text().replace("@@lvsfacts units\n", "")
    with pytest.raises(FactsError, match="units"):
        split_sections(text)
