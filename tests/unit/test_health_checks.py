"""Health checks in the inventory: lvs_health_checker and each service's health_check are checked where they are
written (FILE:LINE and the field), what a checker cannot express is refused for that checker only, values that
could break out of keepalived.conf or ldirectord.cf never reach them, and a check nothing runs is a warning.

Built like test_validate.py: its valid DR cluster (BASE), changed in one place.
"""

import copy
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

import pytest
import yaml

from lvsdeploy import checkers, cli, model, validate
from lvsdeploy.errors import InventoryError
from lvsdeploy.inventory import load_cluster

from test_checker_roles import balanced, inventory, rendered
from test_hostile_values import hostile
from test_validate import BASE, add_service, check, hosts, one, services


def with_check(**fields):
    """A change giving service web the health check `fields`."""
    def change(inv):
        services(inv)[0]["health_check"] = copy.deepcopy(fields)
    return change


def checker(name: str, *changes):
    """A change setting lvs_health_checker (all.vars) to `name`, then making `changes`."""
    def change(inv):
        inv["all"]["vars"]["lvs_health_checker"] = name
        for more in changes:
            more(inv)
    return change


def line_of(tmp_path: Path, key: str | None = None, after: str = "health_check:") -> int:
    """The 1-based line of `key:` in the inventory check() wrote, looking from the line `after` on (that line
    itself when key is None)."""
    lines = (tmp_path / "lab.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == after)
    if key is None:
        return start + 1
    return next(i for i in range(start, len(lines)) if lines[i].strip().startswith(f"{key}:")) + 1


def at(tmp_path: Path, problem, line: int) -> None:
    """The problem names the inventory file and `line`, as FILE:LINE: WHERE: WHAT."""
    assert (problem.file, problem.line) == (str(tmp_path / "lab.yml"), line), problem
    assert str(problem) == f"{tmp_path / 'lab.yml'}:{line}: {problem.where}: {problem.what}"


def test_base_with_a_full_check_under_each_checker_is_valid(tmp_path):
    full = {"type": "http", "port": 80, "path": "/health?x=1&y=%20", "status": 200, "expect": "ok: up",
            "virtualhost": "www.example.com:8080", "interval": 2, "timeout": 1, "retries": 3, "on_failure": "quiescent",
            "sorry_server": {"address": "127.0.0.1", "port": 80}}
    for name in ("none", "keepalived", "ldirectord"):
        assert check(tmp_path, checker(name, with_check(**full))) == [], name


# ---- each field: type and range, at its own line ---------------------------------------------------------------

FIELD_ERRORS = [
    ({"type": "ping"}, "type", "must be one of tcp, http, https, misc, none, got 'ping'"),
    ({"type": "tcp", "port": 0}, "port", "must be an integer between 1 and 65535"),
    ({"type": "tcp", "port": "80"}, "port", "got '80'"),
    ({"type": "http", "path": "health"}, "path", "must be a URL path like /health"),
    ({"type": "http", "status": 99}, "status", "must be an HTTP status between 100 and 599, got 99"),
    ({"type": "http", "status": "200"}, "status", "got '200'"),
    ({"type": "http", "expect": ""}, "expect", "must be text the response body must contain"),
    ({"type": "http", "virtualhost": "-www"}, "virtualhost", "must be a host name like www.example.com"),
    ({"type": "misc", "command": "check"}, "command", "must be an absolute path to an executable"),
    ({"type": "tcp", "interval": 0}, "interval", "must be a number of seconds between 1 and 3600, got 0"),
    ({"type": "tcp", "interval": 3601}, "interval", "got 3601"),
    ({"type": "tcp", "interval": 2.5}, "interval", "got 2.5"),
    ({"type": "tcp", "interval": "5"}, "interval", "got '5'"),
    ({"type": "tcp", "timeout": 0}, "timeout", "must be a number of seconds between 1 and 3600"),
    ({"type": "tcp", "retries": 0}, "retries", "must be an integer between 1 and 100, got 0"),
    ({"type": "tcp", "retries": 101}, "retries", "got 101"),
    ({"type": "tcp", "retries": True}, "retries", "got True"),
    ({"type": "tcp", "delay_before_retry": 0}, "delay_before_retry", "must be a number of seconds between 1 and 3600"),
    ({"type": "tcp", "on_failure": "drain"}, "on_failure", "must be one of remove, quiescent, got 'drain'"),
    ({"type": "tcp", "sorry_server": "127.0.0.1:80"}, "sorry_server",
     "must be a mapping like {address: 127.0.0.1, port: 80}, got '127.0.0.1:80'"),
    ({"type": "tcp", "quorum": 0}, "quorum", "must be an integer between 1 and 65535, got 0"),
    ({"type": "tcp", "hysteresis": -1}, "hysteresis", "must be an integer between 0 and 65535, got -1"),
]


@pytest.mark.parametrize("fields, field, what", FIELD_ERRORS, ids=[f"{f}={c.get(f)!r}" for c, f, _ in FIELD_ERRORS])
def test_each_field_error_names_file_line_and_field(tmp_path, fields, field, what):
    problem = one(check(tmp_path, with_check(**fields)), f"service web: health_check.{field}", what)
    at(tmp_path, problem, line_of(tmp_path, field))


@pytest.mark.parametrize("sorry, field, what", [
    ({"address": "localhost", "port": 80}, "address", "must be an IPv4 address like 10.20.0.10, got 'localhost'"),
    ({"address": "127.0.0.1", "port": 65536}, "port", "must be an integer between 1 and 65535"),
    ({"address": "127.0.0.1"}, "port", "is required"),
])
def test_sorry_server_fields(tmp_path, sorry, field, what):
    problem = one(check(tmp_path, with_check(type="tcp", sorry_server=sorry)),
                  f"service web: health_check.sorry_server.{field}", what)
    # a missing key is reported where its mapping is
    at(tmp_path, problem, line_of(tmp_path, field if field in sorry else None, after="sorry_server:"))


def test_missing_type_is_reported_at_the_health_check(tmp_path):
    problem = one(check(tmp_path, with_check(interval=3)), "service web: health_check.type",
                  "is required (one of tcp, http, https, misc, none)")
    at(tmp_path, problem, line_of(tmp_path))


@pytest.mark.parametrize("where, value, key, suggestion", [
    ("health_check", {"type": "tcp", "intervall": 3}, "health_check.intervall", "did you mean 'interval'?"),
    ("health_check", {"type": "http", "paht": "/"}, "health_check.paht", "did you mean 'path'?"),
    ("sorry_server", {"type": "tcp", "sorry_server": {"address": "127.0.0.1", "port": 80, "weight": 1}},
     "health_check.sorry_server.weight", "unknown key"),
])
def test_unknown_keys_are_refused_with_a_suggestion(tmp_path, where, value, key, suggestion):
    problem = one(check(tmp_path, with_check(**value)), f"service web: {key}", "unknown key")
    assert suggestion in problem.what
    at(tmp_path, problem, line_of(tmp_path, key.rsplit(".", 1)[1], after=f"{where}:"))


def test_health_check_must_be_a_mapping(tmp_path):
    problem = one(check(tmp_path, lambda inv: services(inv)[0].update(health_check="http")),
                  "service web: health_check", "must be a mapping like {type: http, path: /}, got 'http'")
    assert problem.line == line_of(tmp_path, None, "health_check: http")


# ---- what each type needs and allows ------------------------------------------------------------------------------

def test_misc_check_needs_a_command(tmp_path):
    problem = one(check(tmp_path, with_check(type="misc")), "service web: health_check.command",
                  "is required for a misc check")
    at(tmp_path, problem, line_of(tmp_path))


@pytest.mark.parametrize("kind", ["tcp", "http", "https", "none"])
def test_command_only_on_a_misc_check(tmp_path, kind):
    problem = one(check(tmp_path, with_check(type=kind, command="/usr/local/bin/check")),
                  "service web: health_check.command", f"only applies to a misc check, not {kind}")
    at(tmp_path, problem, line_of(tmp_path, "command"))


@pytest.mark.parametrize("kind", ["tcp", "misc", "none"])
@pytest.mark.parametrize("key, value", [("path", "/health"), ("status", 200), ("expect", "ok"),
                                        ("virtualhost", "www.example.com")])
def test_http_keys_only_on_an_http_check(tmp_path, kind, key, value):
    # even a key written with its default value: it says the author expects an HTTP check
    fields = {"type": kind, key: value, **({"command": "/usr/local/bin/check"} if kind == "misc" else {})}
    problem = one(check(tmp_path, with_check(**fields)), f"service web: health_check.{key}",
                  f"only applies to an http or https check, not {kind}")
    at(tmp_path, problem, line_of(tmp_path, key))


@pytest.mark.parametrize("kind", ["http", "https"])
def test_http_keys_on_an_http_check_are_fine(tmp_path, kind):
    assert check(tmp_path, with_check(type=kind, path="/h", status=200, expect="ok", virtualhost="a.example")) == []


@pytest.mark.parametrize("protocol", ["udp", "sctp"])
@pytest.mark.parametrize("kind", ["tcp", "http", "https"])
def test_a_tcp_check_of_a_non_tcp_service_needs_a_port(tmp_path, protocol, kind):
    found = check(tmp_path, lambda inv: add_service(inv, protocol=protocol, health_check={"type": kind}))
    problem = one(found, "service api: health_check.port",
                  f"is required for a {kind} check of a {protocol} service: the TCP port the check connects to")
    at(tmp_path, problem, line_of(tmp_path))
    assert check(tmp_path, lambda inv: add_service(inv, protocol=protocol, health_check={"type": kind, "port": 80})) \
        == []


@pytest.mark.parametrize("kind", ["misc", "none"])
def test_a_udp_service_needs_no_port_for_other_checks(tmp_path, kind):
    fields = {"type": kind, **({"command": "/usr/local/sbin/check-dns"} if kind == "misc" else {})}
    assert check(tmp_path, lambda inv: add_service(inv, protocol="udp", health_check=fields)) == []


def test_a_tcp_check_of_a_fwmark_service_without_port_needs_one(tmp_path):
    def mark(**fields):
        return lambda inv: services(inv).append({"name": "mark", "vip": "10.20.0.10", "fwmark": 7, "mode": "dr",
                                                 "realservers": [{"host": "rs1"}], "health_check": fields})
    problem = one(check(tmp_path, mark(type="tcp")), "service mark: health_check.port",
                  "is required for a tcp check of a fwmark service without a port")
    at(tmp_path, problem, line_of(tmp_path))
    assert check(tmp_path, mark(type="tcp", port=443)) == []


def test_a_timeout_longer_than_the_checks_it_belongs_to(tmp_path):
    # interval 5 x retries 2 + 60 = 70 s is the most
    assert check(tmp_path, with_check(type="tcp", timeout=70)) == []
    problem = one(check(tmp_path, with_check(type="tcp", timeout=71)), "service web: health_check.timeout",
                  "71 s is far longer than the checks it belongs to")
    at(tmp_path, problem, line_of(tmp_path, "timeout"))


# ---- what a checker cannot express -----------------------------------------------------------------------------

LDIRECTORD_CANNOT = [
    ({"type": "tcp", "delay_before_retry": 2}, "delay_before_retry", "ldirectord retries every interval"),
    ({"type": "tcp", "quorum": 2}, "quorum", "ldirectord has no quorum"),
    ({"type": "tcp", "hysteresis": 1}, "hysteresis", "ldirectord has no hysteresis"),
    ({"type": "http", "status": 204}, "status", "ldirectord counts any 2xx answer as up and cannot expect 204"),
    ({"type": "https", "status": 301}, "status", "cannot expect 301"),
    ({"type": "misc", "command": "/usr/local/sbin/check --fast"}, "command", "give only the path"),
]


@pytest.mark.parametrize("fields, field, why", LDIRECTORD_CANNOT, ids=[f for _, f, _ in LDIRECTORD_CANNOT])
def test_ldirectord_refuses_what_it_cannot_express_and_keepalived_accepts_it(tmp_path, fields, field, why):
    problem = one(check(tmp_path, checker("ldirectord", with_check(**fields))), f"service web: health_check.{field}",
                  why)
    at(tmp_path, problem, line_of(tmp_path, field))
    assert check(tmp_path, checker("keepalived", with_check(**fields))) == []
    assert check(tmp_path, checker("none", with_check(**fields))) == []   # a warning only: nothing runs it


def test_ldirectord_accepts_the_same_keys_when_it_can_say_them(tmp_path):
    fields = {"type": "http", "interval": 3, "delay_before_retry": 3, "status": 200}
    assert check(tmp_path, checker("ldirectord", with_check(**fields))) == []
    assert check(tmp_path, checker("ldirectord", with_check(type="misc", command="/usr/local/sbin/check"))) == []


def test_every_refusal_is_reported_at_once(tmp_path):
    fields = {"type": "misc", "command": "/usr/local/sbin/check --fast", "delay_before_retry": 1, "quorum": 2,
              "hysteresis": 0}
    found = check(tmp_path, checker("ldirectord", with_check(**fields)))
    assert [p.where for p in found] == [f"service web: health_check.{key}"
                                        for key in ("command", "delay_before_retry", "quorum", "hysteresis")]


def test_unsupported_is_a_pure_function_of_checker_and_service():
    svc = model.VirtualService(name="web", vip=IPv4Address("10.20.0.10"), port=80, mode="dr",
                               realservers=[model.RealServerRef(host="rs1")],
                               health_check=model.HealthCheck(type="http", status=204, quorum=1))
    assert [path for path, _ in checkers.unsupported("ldirectord", svc)] == ["health_check.quorum",
                                                                            "health_check.status"]
    assert checkers.unsupported("keepalived", svc) == []
    assert checkers.unsupported("none", svc) == []
    svc.health_check = None
    assert checkers.unsupported("ldirectord", svc) == []


# ---- lvs_health_checker --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, shown", [("haproxy", "'haproxy'"), ("Keepalived", "'Keepalived'"), (True, "True"),
                                          (["keepalived"], "a list")])
def test_lvs_health_checker_must_be_a_known_checker(tmp_path, value, shown):
    problem = one(check(tmp_path, checker(value)), "group all: lvs_health_checker",
                  f"must be one of none, keepalived, ldirectord, got {shown}")
    assert problem.line == line_of(tmp_path, "lvs_health_checker", after="vars:")
    found = check(tmp_path, lambda inv: hosts(inv, "directors")["director1"].update(lvs_health_checker=value))
    problem = one(found, "host director1: lvs_health_checker", "must be one of none, keepalived, ldirectord")
    assert problem.file == str(tmp_path / "lab.yml") and problem.line


def test_lvs_health_checker_on_another_host_has_no_effect(tmp_path):
    assert check(tmp_path, lambda inv: hosts(inv, "realservers")["rs1"].update(lvs_health_checker="keepalived")) \
        == []


def test_the_director_reads_its_checker(tmp_path):
    path = tmp_path / "lab.yml"
    data = copy.deepcopy(BASE)
    data["all"]["children"]["directors"]["vars"] = {"lvs_health_checker": "ldirectord"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    cluster = load_cluster(path)
    assert cluster.hosts["director1"].health_checker == "ldirectord"
    assert checkers.checker_of(cluster) == "ldirectord"
    data["all"]["children"]["directors"]["vars"] = {}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert load_cluster(path).hosts["director1"].health_checker == "none"   # the default


def test_all_directors_run_one_checker(tmp_path):
    def two(first, second):
        def change(inv):
            directors = hosts(inv, "directors")
            directors["director1"]["lvs_health_checker"] = first
            directors["director2"] = {"lvs_dip": "10.20.0.3/24", "lvs_health_checker": second}
        return change
    found = check(tmp_path, two("keepalived", "ldirectord"))
    # two directors fail over (keepalived on the first is all that rule asks); the disagreement is at director2's
    assert [p.where for p in found] == ["host director2: lvs_health_checker"]
    assert found[0].what == "ldirectord differs from keepalived on director1: all directors run one checker"
    assert found[0].line == line_of(tmp_path, "lvs_health_checker", after="director2:")
    assert check(tmp_path, two("keepalived", "keepalived")) == []
    # the first director without keepalived: the failover rule says so at director1's, the disagreement too
    found = check(tmp_path, two("ldirectord", "keepalived"))
    assert [p.where for p in found] == ["host director1: lvs_health_checker", "host director2: lvs_health_checker"]
    assert found[0].what.startswith("is ldirectord, but 2 directors (director1, director2) fail over with keepalived")
    assert found[0].line == line_of(tmp_path, "lvs_health_checker", after="director1:")
    assert found[1].what == "keepalived differs from ldirectord on director1: all directors run one checker"


def test_one_checker_is_a_pure_function_of_the_model():
    def director(name, checker_name, dip):
        return model.Host(name=name, groups=frozenset({"all", "directors"}), vars={},
                          connection=model.Connection(host=name), dip=IPv4Interface(dip), health_checker=checker_name)
    cluster = model.Cluster(source=Path("memory.yml"), hosts={
        "d1": director("d1", "none", "10.0.0.1/24"), "d2": director("d2", "keepalived", "10.0.0.2/24"),
        "d3": director("d3", "none", "10.0.0.3/24")})
    (problem,) = validate.one_checker(cluster)
    assert problem.where == "host d2: lvs_health_checker"
    assert problem.what == "keepalived differs from none on d1: all directors run one checker"


# ---- a check nothing runs: a warning -------------------------------------------------------------------------------

def load(tmp_path: Path, change) -> model.Cluster:
    data = copy.deepcopy(BASE)
    change(data)
    path = tmp_path / "lab.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_cluster(path)


def test_a_health_check_without_a_checker_is_a_warning(tmp_path):
    cluster = load(tmp_path, with_check(type="http", path="/health"))
    (warning,) = cluster.warnings
    assert warning.where == "service web: health_check"
    assert warning.what == "not used: lvs_health_checker is none, so nothing runs this check"
    at(tmp_path, warning, line_of(tmp_path))
    assert load(tmp_path, checker("keepalived", with_check(type="http"))).warnings == []
    assert load(tmp_path, lambda inv: None).warnings == []


def test_validate_prints_the_warning_and_the_checker(tmp_path, capsys):
    load(tmp_path, with_check(type="tcp"))
    assert cli.main(["validate", str(tmp_path / "lab.yml")]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"warning: {tmp_path / 'lab.yml'}:{line_of(tmp_path)}: service web: health_check: "
                                "not used: lvs_health_checker is none, so nothing runs this check"]
    assert "  health checker: none (nothing tests the real servers: a failed one stays in rotation)" in out.splitlines()
    load(tmp_path, checker("keepalived", with_check(type="tcp")))
    assert cli.main(["validate", str(tmp_path / "lab.yml")]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "  health checker: keepalived" in out.splitlines()


def test_a_cluster_without_directors_says_nothing_about_a_checker(tmp_path, capsys):
    def no_director(inv):
        inv["all"]["vars"]["lvs_virtual_services"] = []
        del inv["all"]["children"]["directors"]
    load(tmp_path, no_director)
    assert cli.main(["validate", str(tmp_path / "lab.yml")]) == 0
    assert "health checker" not in capsys.readouterr().out


# ---- hostile values never reach a config file ----------------------------------------------------------------------

HOSTILE = [
    ("path", '/a"b'), ("path", "/a#b"), ("path", "/a b"), ("path", "/a{b}"), ("path", "/a!b"),
    ("path", "/a'b"), ("path", "/$(reboot)"), ("path", "/a`reboot`"), ("path", "/a\\b"), ("path", "/" + "a" * 512),
    ("expect", 'a"b'), ("expect", "a{b"), ("expect", "a}b"), ("expect", "a#b"), ("expect", "a!b"),
    ("expect", "a'b"), ("expect", "$(reboot)"), ("expect", "a\\b"), ("expect", "a*"),
    ("expect", "x" * 257),
    ("virtualhost", 'a"b'), ("virtualhost", "a b"), ("virtualhost", "a#b"),
    ("virtualhost", "a{b}"), ("virtualhost", "a;b"), ("virtualhost", "www.example.com:http"),
    ("command", "check"), ("command", "./check"), ("command", "/bin/check;reboot"), ("command", "/bin/check; reboot"),
    ("command", "/bin/check $(reboot)"), ("command", "/bin/check `reboot`"), ("command", "/bin/check | reboot"),
    ("command", '/bin/check "x"'), ("command", "/bin/check 'x'"),
    ("command", "/bin/check  x"), ("command", "/bin/check #x"), ("command", "/bin/check {x}"),
    ("command", "/bin/check x&&reboot"), ("command", "/bin/check $HOME"), ("command", "/bin/check ~root"),
    ("command", "/bin/check > /etc/passwd"), ("command", "/bin/ch eck;"),
]


@pytest.mark.parametrize("checker_name", ["keepalived", "ldirectord"])
@pytest.mark.parametrize("field, value", HOSTILE, ids=[f"{f}={v!r}" for f, v in HOSTILE])
def test_hostile_values_are_refused_at_their_line(tmp_path, checker_name, field, value):
    kind = {"command": "misc"}.get(field, "http")
    problem = one(check(tmp_path, checker(checker_name, with_check(type=kind, **{field: value}))),
                  f"service web: health_check.{field}", "must be")
    at(tmp_path, problem, line_of(tmp_path, field))


CONTROL = [("path", "/a\nb"), ("expect", "a\nb"), ("expect", "a\tb"), ("virtualhost", "a\n"),
           ("command", "/bin/check\n/bin/reboot"), ("command", "/bin/check\r")]


@pytest.mark.parametrize("field, value", CONTROL, ids=[f"{f}={v!r}" for f, v in CONTROL])
def test_control_characters_are_refused_before_any_field(tmp_path, field, value):
    # found while the file is read, for any value: reported at the variable that holds it
    kind = {"command": "misc"}.get(field, "http")
    problem = one(check(tmp_path, checker("keepalived", with_check(type=kind, **{field: value}))),
                  "group all: lvs_virtual_services", "contains a control character")
    at(tmp_path, problem, line_of(tmp_path, "lvs_virtual_services", after="vars:"))


SETTERS = {
    "path": lambda v: {"type": "http", "path": v},
    "expect": lambda v: {"type": "http", "expect": v},
    "virtualhost": lambda v: {"type": "http", "virtualhost": v},
    "command": lambda v: {"type": "misc", "command": v},
}


@pytest.mark.parametrize("checker_name", ["keepalived", "ldirectord"])
@pytest.mark.parametrize("field", SETTERS)
def test_an_accepted_value_stays_inside_its_line_of_the_config(tmp_path, checker_name, field):
    # test_hostile_values' injections: each is refused at FILE:LINE or, where the field's characters allow it
    # (';' and spaces in `expect`), it changes one line of the config and nothing of its structure.
    benign = rendered(tmp_path, checker_name, with_service(SETTERS[field]({"command": "/usr/local/sbin/x"}.get(
        field, "/x" if field == "path" else "x"))))
    accepted = []
    for value in hostile(tmp_path / "PWNED"):
        try:
            conf = rendered(tmp_path, checker_name, with_service(SETTERS[field](value)))
        except InventoryError as error:
            assert all(p.file == str(tmp_path / "lab.yml") and p.line for p in error.problems), error.problems
            where = "group all: lvs_virtual_services" if "\n" in value else f"service web: health_check.{field}"
            assert {p.where for p in error.problems} == {where}, error.problems
            continue
        assert field == "expect", f"{field}={value!r} reached the config"
        accepted.append(value)
        assert len(conf.splitlines()) == len(benign.splitlines())
        for char in '"#!{}\n':
            assert conf.count(char) == benign.count(char), (value, char)
        assert balanced(conf)
    # `expect` is matched as text: ";touch FILE;" is text it may look for, written inside one quoted word
    assert bool(accepted) == (field == "expect")
    for value in accepted:
        regex = value.replace(".", "\\.")   # matched literally
        assert f'"{regex}"' in rendered(tmp_path, checker_name, with_service(SETTERS[field](value)))


def with_service(health_check: dict) -> list[dict]:
    return [{"name": "web", "vip": "10.20.0.10", "port": 80, "mode": "dr", "realservers": [{"host": "rs1"}],
             "health_check": health_check}]


# ---- checkers.py: what the templates get ---------------------------------------------------------------------------

def test_service_data_fills_in_the_defaults(tmp_path):
    data = inventory("keepalived", [
        {"name": "dns", "vip": "10.20.0.10", "port": 53, "protocol": "udp", "mode": "nat",
         "realservers": [{"host": "rs1", "port": 5353, "weight": 3}]},
        {"name": "web", "vip": "10.20.0.10", "port": 80, "mode": "dr", "persistence": 60,
         "persistence_netmask": "255.255.255.255", "realservers": [{"host": "rs2"}],
         "health_check": {"type": "http", "port": 8080, "expect": "a.b", "retries": 3, "interval": 7}},
    ])
    cluster = load(tmp_path, lambda inv: inv.update(data))
    dns, web = (checkers.service_data(cluster, svc) for svc in cluster.services)
    assert dns["check"].type == "none" and dns["keepalived_check"] is None and dns["ldirectord_check"] == "on"
    assert (dns["keepalived_method"], dns["ldirectord_method"]) == ("NAT", "masq")
    assert [(r.ip, r.port, r.weight, r.check_port) for r in dns["realservers"]] == [("10.20.0.11", 5353, 3, 5353)]
    assert web["netmask"] is None   # /32 is the daemons' default: not written
    assert (web["keepalived_check"], web["ldirectord_check"]) == ("HTTP_GET", "negotiate")
    assert (web["retry"], web["delay_before_retry"], web["expect_regex"]) == (2, 7, "a\\.b")
    assert [r.check_port for r in web["realservers"]] == [8080]
    # with no checker the templates get no service at all
    assert checkers.director_checker_vars(cluster, cluster.hosts["director1"])["lvs_checker_services"] != []
    cluster.hosts["director1"].health_checker = "none"
    variables = checkers.director_checker_vars(cluster, cluster.hosts["director1"])
    assert variables["lvs_checker_services"] == [] and variables["lvs_checker_scripts"] is False


def test_a_nat_sorry_server_on_a_loopback_address_is_refused(tmp_path):
    # seen on the NAT lab: the kernel never masquerades to 127.0.0.1 ("stopping DNAT to loopback address")
    def nat(inv):
        services(inv)[0]["mode"] = "nat"
    problem = one(check(tmp_path, checker("keepalived", nat, with_check(type="tcp", sorry_server={
        "address": "127.0.0.1", "port": 80}))), "service web: health_check.sorry_server.address",
        "127.0.0.1 is a loopback address, which IPVS never masquerades to (nat mode)")
    at(tmp_path, problem, line_of(tmp_path, "address", after="sorry_server:"))
    # the director's own DIP is fine, and so is a loopback address in dr mode
    assert check(tmp_path, checker("keepalived", nat, with_check(type="tcp", sorry_server={
        "address": "10.20.0.2", "port": 80}))) == []
    assert check(tmp_path, checker("keepalived", with_check(type="tcp", sorry_server={
        "address": "127.0.0.1", "port": 80}))) == []
