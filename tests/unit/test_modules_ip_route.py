"""ip_route: present when any route to dst matches; replace otherwise; the boot script line."""

from pathlib import Path

import pytest

from lvsdeploy.facts import Route
from lvsdeploy.facts.gather import parse
from lvsdeploy.modules import ip_route
from lvsdeploy.modules.base import ModuleError

FIXTURES = Path(__file__).parent / "fixtures" / "facts"


def realserver():
    return parse((FIXTURES / "realserver.facts").read_text())


def test_existing_default_route_is_ok():
    assert ip_route.plan({"dst": "default", "via": "10.20.0.1"}, realserver()) == []
    assert ip_route.plan({"dst": "0.0.0.0/0", "via": "10.20.0.1", "dev": "ens3"}, realserver()) == []


def test_different_gateway_is_replaced_in_place():
    # LVS-NAT: real servers must route back through the director.
    facts = realserver()
    (change,) = ip_route.plan({"dst": "default", "via": "10.20.0.2"}, facts)
    assert change.diff == ("- default via 10.20.0.1 dev ens3", "+ default via 10.20.0.2")
    assert change.commands == ("ip route replace default via 10.20.0.2",)
    facts.routes[0] = Route("default", "10.20.0.2", "ens3")
    assert ip_route.plan({"dst": "default", "via": "10.20.0.2"}, facts) == []


def test_new_route_and_absent():
    facts = realserver()
    (change,) = ip_route.plan({"dst": "10.40.0.0/24", "via": "10.20.0.3", "dev": "ens3"}, facts)
    assert change.commands == ("ip route replace 10.40.0.0/24 via 10.20.0.3 dev ens3",)
    facts.routes.append(Route("10.40.0.0/24", "10.20.0.3", "ens3"))
    (change,) = ip_route.plan({"dst": "10.40.0.0/24", "state": "absent"}, facts)
    assert change.commands == ("ip route del 10.40.0.0/24 via 10.20.0.3 dev ens3",)
    facts.routes.pop()
    assert ip_route.plan({"dst": "10.40.0.0/24", "state": "absent"}, facts) == []


def test_persist_and_validation():
    lines = ip_route.persist({"dst": "default", "via": "10.20.0.2"}, realserver())
    assert lines == [("network", "ip route replace default via 10.20.0.2")]
    lines = ip_route.persist({"dst": "10.40.0.0/24", "via": "10.20.0.3", "dev": "ens3"}, realserver())
    assert lines == [("network", "ip route replace 10.40.0.0/24 via 10.20.0.3 dev ens3")]
    assert ip_route.persist({"dst": "10.40.0.0/24", "state": "absent"}, realserver()) == []
    with pytest.raises(ModuleError, match="host bits"):
        ip_route.facts_needed({"dst": "10.40.0.1/24", "via": "10.20.0.3"})
    with pytest.raises(ModuleError, match="via"):
        ip_route.facts_needed({"dst": "10.40.0.0/24"})
