"""systemd units: one `systemctl show` block per unit in the order asked, is-enabled only for SysV units."""

from pathlib import Path

import pytest

from lvsdeploy.facts import UnitFact
from lvsdeploy.facts.gather import split_sections
from lvsdeploy.facts.services import UnitsError, parse_units, units_snippet

FIXTURES = Path(__file__).parent / "fixtures" / "facts"


def test_captured_units():
    units = parse_units(split_sections((FIXTURES / "director.facts").read_text())["units"])
    assert units["ipvsadm"] == UnitFact("loaded", "enabled", "active")
    assert units["keepalived"] == UnitFact("not-found", "", "inactive")


def test_sysv_answer_replaces_generated():
    text = ("@want\tipvsadm\nLoadState=loaded\nActiveState=inactive\nUnitFileState=generated\n\n"
            "@sysv\tipvsadm\tdisabled\n")
    assert parse_units(text) == {"ipvsadm": UnitFact("loaded", "disabled", "inactive")}


def test_one_systemctl_show_for_all_units_and_is_enabled_only_behind_the_sysv_test():
    snippet = units_snippet({"ipvsadm", "nfs-server.service", "nginx"})
    assert snippet.count("systemctl show") == 1
    assert all(line.startswith("if [ -e /run/systemd/generator.late/")
               for line in snippet.splitlines() if "is-enabled" in line)


def test_no_answer_means_not_found_and_a_partial_answer_is_an_error():
    assert parse_units("@want\tnginx\n@want\tssh\n") == {
        "nginx": UnitFact("not-found", "", "inactive"), "ssh": UnitFact("not-found", "", "inactive")}
    with pytest.raises(UnitsError):
        parse_units("@want\tnginx\n@want\tssh\nLoadState=loaded\nActiveState=active\n")


def test_a_running_systemd_that_answers_nothing_is_an_error():
    # systemctl show stops at the first name it rejects: on a host with systemd that is not "no such units"
    with pytest.raises(UnitsError):
        parse_units("@want\tnginx\n@systemd\n")


def test_sysv_test_uses_the_full_unit_name():
    # "ipvsadm" is the unit ipvsadm.service, and that is the name systemd-sysv-generator writes
    assert "/run/systemd/generator.late/ipvsadm.service" in units_snippet({"ipvsadm"})


def test_no_units_no_snippet():
    assert units_snippet(set()) == ""
