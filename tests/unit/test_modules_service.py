"""service: enable/start from is-enabled/is-active answers; not-found units are still started. Enabling does not
reload systemd (each reload costs seconds): it marks systemd stale, and a start or stop refreshes it first."""

import pytest

from lvsdeploy.facts import HostFacts, UnitFact
from lvsdeploy.modules import service
from lvsdeploy.modules.base import SYSTEMD_FRESH, SYSTEMD_OWED, ModuleError


def facts(load, enabled, active):
    return HostFacts(units={"ipvsadm": UnitFact(load, enabled, active)})


def test_enable_and_start_then_nothing():
    args = {"name": "ipvsadm", "enabled": True, "state": "started"}
    (change,) = service.plan(args, facts("loaded", "disabled", "inactive"))
    assert change.commands == ("systemctl --no-reload enable ipvsadm", SYSTEMD_OWED,
                               SYSTEMD_FRESH, "systemctl start ipvsadm")
    assert change.diff == ("- disabled", "+ enabled", "- inactive", "+ active")
    assert service.plan(args, facts("loaded", "enabled", "active")) == []


def test_not_found_unit_is_planned_anyway():
    # A package installed earlier in the same apply may provide it.
    (change,) = service.plan({"name": "ipvsadm", "enabled": True, "state": "started"}, HostFacts())
    assert change.commands == ("systemctl --no-reload enable ipvsadm", SYSTEMD_OWED,
                               SYSTEMD_FRESH, "systemctl start ipvsadm")


def test_stop_disable_and_nothing_to_stop_when_not_found():
    args = {"name": "ipvsadm", "enabled": "no", "state": "stopped"}
    (change,) = service.plan(args, facts("loaded", "enabled", "active"))
    assert change.commands == ("systemctl --no-reload disable ipvsadm", SYSTEMD_OWED,
                               SYSTEMD_FRESH, "systemctl stop ipvsadm")
    assert service.plan(args, facts("loaded", "disabled", "inactive")) == []
    assert service.plan(args, facts("not-found", "", "inactive")) == []


def test_static_units_cannot_be_enabled_and_need_not_be():
    assert service.plan({"name": "ipvsadm", "enabled": True}, facts("loaded", "static", "inactive")) == []


def test_start_only_and_stop_only():
    # Nothing edited here, but an earlier change of the script may have been (the refresh is a no-op if not).
    (change,) = service.plan({"name": "ipvsadm", "state": "started"}, facts("loaded", "disabled", "failed"))
    assert change.commands == (SYSTEMD_FRESH, "systemctl start ipvsadm")
    (change,) = service.plan({"name": "ipvsadm", "state": "stopped"}, facts("loaded", "enabled", "active"))
    assert change.commands == (SYSTEMD_FRESH, "systemctl stop ipvsadm")


@pytest.mark.parametrize("state", ["restarted", "reloaded"])
def test_restarts_and_reloads_are_handlers_work_not_a_state(state):
    # A state that always runs would never let a plan come back empty; handlers restart and reload.
    with pytest.raises(ModuleError, match="state must be one of started, stopped, null"):
        service.facts_needed({"name": "ipvsadm", "state": state})


def test_facts_and_validation():
    assert service.facts_needed({"name": "nfs-server.service", "state": "started"}).units == {"nfs-server.service"}
    with pytest.raises(ModuleError, match="nothing to do"):
        service.facts_needed({"name": "ipvsadm"})
    with pytest.raises(ModuleError, match="state must be one of"):
        service.facts_needed({"name": "ipvsadm", "state": "running"})
