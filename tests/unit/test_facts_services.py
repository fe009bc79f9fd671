"""systemd units: one tab-separated line per unit, empty fields for a unit that does not exist."""

from pathlib import Path

from lvsdeploy.facts import UnitFact
from lvsdeploy.facts.gather import split_sections
from lvsdeploy.facts.services import parse_units, units_snippet

FIXTURES = Path(__file__).parent / "fixtures" / "facts"


def test_captured_units():
    units = parse_units(split_sections((FIXTURES / "director.facts").read_text())["units"])
    assert units["ipvsadm"] == UnitFact("loaded", "enabled", "active")
    assert units["keepalived"] == UnitFact("not-found", "", "inactive")


def test_snippet_prints_one_line_per_unit_even_when_systemctl_prints_nothing():
    snippet = units_snippet({"ipvsadm", "nfs-server.service"})
    assert snippet.count("printf 'unit") == 2 and "is-enabled" in snippet
