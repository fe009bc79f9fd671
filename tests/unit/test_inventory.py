"""Loading: YAML with lines, groups and nesting, variable precedence, paths, type errors."""

from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path
from textwrap import dedent

import pytest

from lvsdeploy.errors import InventoryError, Problem, Source
from lvsdeploy.inventory import load_cluster
from lvsdeploy.inventory.yamlload import parse_yaml

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures" / "inventories"


def write(root: Path, files: dict[str, str]) -> Path:
    """Write files under root; return the path of the first one (the inventory)."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(dedent(text))
    return root / next(iter(files))


def problems(path: Path) -> list[Problem]:
    with pytest.raises(InventoryError) as caught:
        load_cluster(path)
    return caught.value.problems


def only(found: list[Problem], where: str) -> Problem:
    matching = [p for p in found if p.where == where]
    assert len(matching) == 1, f"expected one problem at {where!r}, got: {[str(p) for p in found]}"
    return matching[0]


# ---- examples --------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["nat", "dr", "tun"])
def test_example_inventories_load(mode):
    cluster = load_cluster(REPO / "inventories" / "examples" / f"{mode}.yml")
    assert cluster.modes() == {mode}
    assert [h.name for h in cluster.directors()] == ["director1"]
    assert [h.name for h in cluster.realservers()] == ["rs1", "rs2"]
    assert [h.name for h in cluster.storage_nodes()] == ["storage1"]
    assert [s.type for s in cluster.shares] == ["nfs"]
    assert cluster.shares_for_client("rs1") == cluster.shares


def test_nat_example_maps_ports_and_defaults_share_clients():
    cluster = load_cluster(REPO / "inventories" / "examples" / "nat.yml")
    web, tls = cluster.services
    assert web.key == "tcp 192.168.100.10:80"
    assert [(rs.host, rs.port, rs.weight) for rs in web.realservers] == [("rs1", 8080, 1), ("rs2", 8080, 1)]
    assert [rs.port for rs in tls.realservers] == [443, 443]  # defaulted to the service port
    assert cluster.shares[0].clients == ["rs1", "rs2"]
    assert cluster.shares[0].options.mount == "rw,hard,vers=4.2,_netdev"
    director = cluster.hosts["director1"]
    assert director.dip == IPv4Interface("10.10.0.1/24")
    assert (director.dip_interface, director.vip_interface) == ("eth1", "eth0")


# ---- structure -------------------------------------------------------------------------------------

def test_nested_groups_multiple_membership_and_top_level_groups(tmp_path):
    path = write(tmp_path, {"inv.yml": """\
        all:
          children:
            lvs:
              children:
                directors:
                  hosts:
                    d1: {lvs_dip: 10.0.0.1/24}
                backends:
                  children:
                    realservers:
                      hosts:
                        rs1: {lvs_rip: 10.0.0.11/24}
            monitoring:
              hosts:
                rs1:
                mon1:
        extra:
          hosts:
            mon1: {role: grafana}
        """})
    cluster = load_cluster(path)
    assert cluster.hosts["rs1"].groups == {"all", "lvs", "backends", "realservers", "monitoring"}
    assert cluster.hosts["d1"].is_director and not cluster.hosts["d1"].is_realserver
    mon = cluster.hosts["mon1"]  # kept, though in no managed group
    assert mon.groups == {"all", "monitoring", "extra"}
    assert mon.vars == {"role": "grafana"}
    assert not (mon.is_director or mon.is_realserver or mon.is_storage or mon.is_client)


def test_ungrouped_hosts_and_empty_inventory(tmp_path):
    cluster = load_cluster(write(tmp_path, {"inv.yml": "all:\n  hosts:\n    lonely:\n"}))
    assert cluster.hosts["lonely"].groups == {"all", "ungrouped"}
    assert cluster.services == [] and cluster.shares == []
    empty = load_cluster(write(tmp_path, {"empty.yml": ""}))
    assert empty.hosts == {}


def test_precedence_of_all_variable_sources():
    cluster = load_cluster(FIXTURES / "precedence" / "inventory.yml")
    vars_ = cluster.hosts["rs1"].vars
    assert [vars_[f"p{i}"] for i in range(1, 7)] == [
        "all.vars", "group_vars/all", "realservers", "group_vars/realservers", "host", "host_vars"]
    assert vars_["order"] == "realservers"        # child group's vars beat its parent's
    assert vars_["order_file"] == "realservers"   # same for group_vars files


def test_group_vars_files_are_read_in_ansible_order(tmp_path):
    path = write(tmp_path, {"inv.yml": "all:\n  hosts:\n    a:\n",
                            "group_vars/all/10.yml": "x: dir\ny: dir\nz: dir\n",
                            "group_vars/all.yml": "y: yml\nz: yml\n",
                            "group_vars/all.yaml": "z: yaml\n",
                            "group_vars/README": "not yaml: [\n"})
    assert load_cluster(path).hosts["a"].vars == {"x": "dir", "y": "yml", "z": "yaml"}


def test_variables_remember_their_file_and_line():
    path = FIXTURES / "precedence" / "inventory.yml"
    host = load_cluster(path).hosts["rs1"]
    gv = str(path.parent / "group_vars")
    assert host.origin.at("p1") == Source(str(path), 4)
    assert host.origin.at("p4") == Source(f"{gv}/realservers/main.yml", 1)
    assert host.origin.at("p6") == Source(str(path.parent / "host_vars" / "rs1.yml"), 1)
    assert host.origin.at("") == Source(str(path), 17)  # where the host is listed


def test_connection_defaults_and_path_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", "/home/ops")
    path = write(tmp_path, {"inv/lab.yml": """\
        all:
          vars:
            ansible_ssh_private_key_file: keys/id_ed25519
            lvs_known_hosts_file: known_hosts
          hosts:
            a:
            b: {ansible_host: 192.0.2.7, ansible_port: "2222", ansible_user: ops, ansible_become: "yes",
                ansible_ssh_private_key_file: ~/.ssh/id, lvs_known_hosts_file: /etc/ssh/known}
        """})
    cluster = load_cluster(path)
    a, b = cluster.hosts["a"].connection, cluster.hosts["b"].connection
    # what the inventory leaves out is for ssh_config and OpenSSH's defaults to say (port 22, the local user)
    assert (a.host, a.port, a.user, a.become) == ("a", None, None, False)
    assert a.key_file == tmp_path / "inv" / "keys" / "id_ed25519"
    assert a.known_hosts == tmp_path / "inv" / "known_hosts"
    assert (b.host, b.port, b.user, b.become) == ("192.0.2.7", 2222, "ops", True)
    assert b.key_file == Path("/home/ops/.ssh/id")
    assert b.known_hosts == Path("/etc/ssh/known")
    bare = load_cluster(write(tmp_path, {"bare.yml": "all:\n  hosts:\n    c:\n"}))
    assert bare.hosts["c"].connection.known_hosts is None


def test_host_vars_are_plain_data(tmp_path):
    path = write(tmp_path, {"inv.yml": "all:\n  hosts:\n    a: {extra: {list: [1, 2]}}\n"})
    extra = load_cluster(path).hosts["a"].vars["extra"]
    assert type(extra) is dict and type(extra["list"]) is list


# ---- YAML errors -----------------------------------------------------------------------------------

def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, {"inv.yml": """\
        all:
          hosts:
            rs1: {lvs_rip: 10.0.0.11/24}
            rs2: {lvs_rip: 10.0.0.12/24
          vars:
        """})
    (problem,) = problems(path)
    assert (problem.file, problem.where) == (str(path), "YAML syntax")
    assert problem.line == 5
    assert str(problem).startswith(f"{path}:5: YAML syntax: ")


def test_duplicate_key_names_both_lines(tmp_path):
    path = write(tmp_path, {"inv.yml": """\
        all:
          hosts:
            rs1: {lvs_rip: 10.0.0.11/24}
            rs1: {lvs_rip: 10.0.0.12/24}
        """})
    problem = only(problems(path), "all.hosts")
    assert problem.line == 4
    assert problem.what == "duplicate key 'rs1' (first at line 3)"


def test_yaml_merge_keys_are_not_duplicates():
    loaded = parse_yaml("base: &b {port: 80, mode: dr}\nsvc:\n  <<: *b\n  port: 81\n", "x.yml")
    assert loaded.problems == [] and loaded.data["svc"] == {"port": 81, "mode": "dr"}


def test_errors_in_several_files_are_reported_together(tmp_path):
    path = write(tmp_path, {
        "inv.yml": "all:\n  hosts:\n    rs1: {lvs_ripp: 10.0.0.11/24}\n",
        "group_vars/all.yml": "a: [\n",
        "host_vars/rs1/net.yml": "lvs_rip_interface: 'eth 0'\n",
    })
    found = problems(path)
    assert [p.file for p in found] == [str(tmp_path / "group_vars/all.yml"), str(tmp_path / "host_vars/rs1/net.yml"),
                                       str(path)]


def test_problem_text_format():
    assert str(Problem("inv.yml", 14, "service web", "boom")) == "inv.yml:14: service web: boom"
    assert str(Problem("group_vars/all.yml", None, "group_vars", "boom")) == "group_vars/all.yml: group_vars: boom"
    error = InventoryError([Problem("a", 1, "b", "c"), Problem("a", 2, "b", "d")])
    assert str(error) == "a:1: b: c\na:2: b: d"


def test_problem_files_are_shown_as_the_user_wrote_the_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"inventories/lab.yml": "all:\n  hosts:\n    a: {lvs_x: 1}\n",
                     "inventories/group_vars/all.yml": "lvs_y: 1\n"})
    found = problems(Path("inventories/lab.yml"))
    assert [str(p).split(": ")[0] for p in found] == ["inventories/group_vars/all.yml:1", "inventories/lab.yml:3"]


# ---- variables -------------------------------------------------------------------------------------

def test_unknown_lvs_variable_suggests_the_known_one(tmp_path):
    path = write(tmp_path, {"inv.yml": "all:\n  children:\n    directors:\n      hosts:\n"
                                       "        d1: {lvs_dipp: 10.0.0.1/24}\n"})
    found = problems(path)
    assert only(found, "host d1: lvs_dipp").what == "unknown lvsdeploy variable; did you mean 'lvs_dip'?"


def test_other_variables_pass_through(tmp_path):
    path = write(tmp_path, {"inv.yml": "all:\n  hosts:\n"
                                       "    a: {ansible_python_interpreter: /usr/bin/python3, mine: 1}\n"})
    assert load_cluster(path).hosts["a"].vars == {"ansible_python_interpreter": "/usr/bin/python3", "mine": 1}


def test_cluster_variables_only_for_all(tmp_path):
    path = write(tmp_path, {"inv.yml": "all:\n  children:\n    realservers:\n      hosts: {}\n",
                            "group_vars/realservers.yml": "lvs_shared_storage: []\n",
                            "host_vars/nobody.yml": "a: 1\n"})
    found = problems(path)
    problem = only(found, "group realservers: lvs_shared_storage")
    assert problem.file.endswith("group_vars/realservers.yml") and "all.vars or group_vars/all" in problem.what
    assert only(found, "host_vars").what == "there is no host 'nobody' in the inventory"


def test_group_vars_all_may_hold_the_services(tmp_path):
    path = write(tmp_path, {
        "inv.yml": """\
            all:
              children:
                directors: {hosts: {d1: {lvs_dip: 10.0.0.1/24}}}
                realservers: {hosts: {rs1: {lvs_rip: 10.0.0.11/24}}}
            """,
        "group_vars/all/services.yml": "lvs_virtual_services:\n  - {name: web, vip: 10.0.0.10, port: 80, mode: dr,"
                                       " realservers: [{host: rs1}]}\n",
    })
    cluster = load_cluster(path)
    assert cluster.services[0].origin.at("realservers[0]").file == str(tmp_path / "group_vars/all/services.yml")
    assert cluster.services_for("rs1") == cluster.services


def test_unknown_group_key_and_host_ranges(tmp_path):
    path = write(tmp_path, {"inv.yml": "all:\n  children:\n    web:\n      host: {}\n"
                                       "      hosts:\n        web[1:3]:\n"})
    found = problems(path)
    assert only(found, "group web: host").what == "unknown key; did you mean 'hosts'?"
    assert "not supported" in only(found, "host web[1:3]").what


@pytest.mark.parametrize("host_vars, where, what", [
    ("{lvs_rip: 10.0.0.300/24}", "host rs1: lvs_rip",
     "must be an IPv4 address with prefix length like 10.20.0.2/24, got '10.0.0.300/24'"),
    ("{lvs_rip: 10.0.0.11}", "host rs1: lvs_rip", "with prefix length"),
    ("{lvs_rip: 10.0.0.11/24, lvs_rip_interface: a-very-long-interface}", "host rs1: lvs_rip_interface",
     "at most 15 letters"),
    ("{lvs_rip: 10.0.0.11/24, ansible_port: 0}", "host rs1: ansible_port", "between 1 and 65535, got 0"),
    ("{lvs_rip: 10.0.0.11/24, ansible_become_user: postgres}", "host rs1: ansible_become_user", "must be root"),
])
def test_host_variable_types(tmp_path, host_vars, where, what):
    path = write(tmp_path, {"inv.yml": "all:\n  children:\n    realservers:\n      hosts:\n"
                                       f"        rs1: {host_vars}\n"})
    problem = only(problems(path), where)
    assert what in problem.what and problem.line == 5


# ---- entries of lvs_virtual_services / lvs_shared_storage ------------------------------------------

def service_problems(tmp_path: Path, service: str) -> list[Problem]:
    return problems(write(tmp_path, {"inv.yml": f"""\
        all:
          vars:
            lvs_virtual_services:
              - {service}
          children:
            directors: {{hosts: {{d1: {{lvs_dip: 10.0.0.1/24}}}}}}
            realservers: {{hosts: {{rs1: {{lvs_rip: 10.0.0.11/24}}}}}}
        """}))


@pytest.mark.parametrize("service, where, what", [
    ("{name: web, vip: 10.0.0.10, port: 80, mode: dr, realservers: [{host: rs1, weight: heavy}]}",
     "service web: realservers[0].weight", "must be an integer between 0 and 65535, got 'heavy'"),
    ("{name: web, vip: 10.0.0.10, port: 80, mode: dr, realservers: [{host: rs1, wieght: 2}]}",
     "service web: realservers[0].wieght", "unknown key; did you mean 'weight'?"),
    ("{name: web, vip: 10.0.0.10, port: 80, mode: dr, schedular: rr, realservers: [{host: rs1}]}",
     "service web: schedular", "unknown key; did you mean 'scheduler'?"),
    ("{name: web, vip: 10.0.0.10, port: 70000, mode: dr, realservers: [{host: rs1}]}",
     "service web: port", "must be an integer between 1 and 65535, got 70000"),
    ("{name: web, vip: 10.0.0.10, mode: dr, realservers: [{host: rs1}]}",
     "service web: port", "is required (an integer between 1 and 65535) unless fwmark is set"),
    ("{name: web, vip: 10.0.0.10, fwmark: 0, mode: dr, realservers: [{host: rs1}]}",
     "service web: fwmark", "must be an integer between 1 and 4294967295, got 0"),
    ("{name: web, vip: 10.0.0.10, port: 80, persistence: -1, mode: dr, realservers: [{host: rs1}]}",
     "service web: persistence", "between 1 and 2147483647, got -1"),
    ("{name: web, vip: 10.0.0, port: 80, mode: dr, realservers: [{host: rs1}]}",
     "service web: vip", "must be an IPv4 address like 10.20.0.10, got '10.0.0'"),
    ("{name: web, vip: 10.0.0.10, port: 80, mode: direct, realservers: [{host: rs1}]}",
     "service web: mode", "must be one of nat, dr, tun, fullnat, got 'direct'"),
    ("{name: web, vip: 10.0.0.10, port: 80, mode: dr, scheduler: fastest, realservers: [{host: rs1}]}",
     "service web: scheduler", "must be one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh"),
    ("{name: web, vip: 10.0.0.10, port: 80, protocol: icmp, mode: dr, realservers: [{host: rs1}]}",
     "service web: protocol", "must be one of tcp, udp, sctp, got 'icmp'"),
    ("{name: web, vip: 10.0.0.10, port: 80, mode: dr, realservers: [rs1]}",
     "service web: realservers[0]", "must be a mapping like {host: rs1, weight: 1}, got 'rs1'"),
    ("just-a-name", "lvs_virtual_services[0]", "must be a mapping, got 'just-a-name'"),
])
def test_service_entry_types(tmp_path, service, where, what):
    problem = only(service_problems(tmp_path, service), where)
    assert what in problem.what
    assert problem.line == 4


def test_fwmark_service_without_port(tmp_path):
    path = write(tmp_path, {"inv.yml": """\
        all:
          vars:
            lvs_virtual_services:
              - {name: webs, vip: 10.0.0.10, fwmark: 1, mode: dr, realservers: [{host: rs1}]}
          children:
            directors: {hosts: {d1: {lvs_dip: 10.0.0.1/24}}}
            realservers: {hosts: {rs1: {lvs_rip: 10.0.0.11/24}}}
        """})
    (svc,) = load_cluster(path).services
    assert svc.key == "fwmark 1" and svc.vip == IPv4Address("10.0.0.10")
    assert svc.realservers[0].port == 0 and svc.scheduler == "wlc" and svc.protocol == "tcp"


def test_share_entry_types(tmp_path):
    path = write(tmp_path, {"inv.yml": """\
        all:
          vars:
            lvs_shared_storage:
              - {name: c, type: gfs3, server: s1, export: /a, mount: /b}
              - name: d
                server: s1
                export: /d
                mount: /d
                options: {export: "rw, sync", mnt: x}
          children:
            storage: {hosts: {s1: {lvs_storage_ip: 10.0.0.5/24}}}
        """})
    found = problems(path)
    assert only(found, "share c: type").what == "must be nfs, gfs2 or ocfs2, got 'gfs3'"
    assert only(found, "share d: options.mnt").what == "unknown key; did you mean 'mount'?"
    assert only(found, "share d: options.export").line == 9
