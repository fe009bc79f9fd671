"""lvsdeploy status: the live table parsed, set against the inventory, drawn as JSON and Prometheus text."""

import json
from pathlib import Path

from lvsdeploy.inventory import load_cluster
from lvsdeploy.status.output import as_text_json, prometheus
from lvsdeploy.status.report import SCHEMA, director_report
from lvsdeploy.status.table import parse_status

FIXTURE = Path(__file__).parents[2] / "inventories" / "examples" / "dr.yml"

# ipvsadm 1.31's formats (printf widths as in its print_service_entry), the DR fixture's two services
SAMPLE = """\
@@ list
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.20.0.10:80 rr
  -> 10.20.0.11:80                Route   1      3          12
  -> 10.20.0.12:80                Route   0      0          7
UDP  10.20.0.10:53 wrr persistent 360 mask 255.255.255.0
  -> 10.20.0.11:53                Route   2      0          0
TCP  10.20.0.99:8080 lc
  -> 10.20.0.50:8080              Masq    1      1          0
@@ stats
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes
  -> RemoteAddress:Port
TCP  10.20.0.10:80                     120     2400        0   160000        0
  -> 10.20.0.11:80                      70     1400        0    90000        0
  -> 10.20.0.12:80                      50     1000        0    70000        0
UDP  10.20.0.10:53                      10       10        0      600        0
  -> 10.20.0.11:53                      10       10        0      600        0
@@ rate
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
  -> RemoteAddress:Port
TCP  10.20.0.10:80                       4       80        0     5300        0
  -> 10.20.0.11:80                       4       80        0     5300        0
  -> 10.20.0.12:80                       0        0        0        0        0
@@ totals
   Total Incoming Outgoing         Incoming         Outgoing
   Conns  Packets  Packets            Bytes            Bytes
      82      9C4        0            27D58                0

 Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s
       4       50        0             14B4                0
@@ addresses
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth1    inet 10.20.0.2/24 brd 10.20.0.255 scope global eth1\\       valid_lft forever preferred_lft forever
2: eth1    inet 10.20.0.10/32 scope global eth1\\       valid_lft forever preferred_lft forever
"""


def test_the_live_table_is_read_with_counters_and_rates():
    table = parse_status(SAMPLE)
    assert table.state == "ok" and [s.label for s in table.services] == [
        "TCP 10.20.0.10:80", "UDP 10.20.0.10:53", "TCP 10.20.0.99:8080"]
    web = table.services[0]
    assert web.scheduler == "rr" and web.flags == "" and web.persistence is None
    rs1 = web.dest("10.20.0.11", 80)
    assert (rs1.forward, rs1.weight, rs1.active, rs1.inactive) == ("Route", 1, 3, 12)
    assert rs1.stats == {"conns": 70, "in_packets": 1400, "out_packets": 0, "in_bytes": 90000, "out_bytes": 0}
    assert rs1.rates["cps"] == 4 and rs1.rates["in_bps"] == 5300
    assert table.services[1].persistence == 360 and table.services[1].flags == "persistent 360 mask 255.255.255.0"
    assert table.totals == {"conns": 0x82, "in_packets": 0x9C4, "out_packets": 0, "in_bytes": 0x27D58,
                            "out_bytes": 0}
    assert {"10.20.0.2", "10.20.0.10", "127.0.0.1"} == table.addresses


def test_scheduler_flags_are_read_from_the_brackets_and_compared_with_the_inventory():
    cluster = load_cluster(FIXTURE)
    sample = SAMPLE.replace("UDP  10.20.0.10:53 wrr persistent 360", "UDP  10.20.0.10:53 wrr (sh-port) persistent 360")
    table = parse_status(sample)
    assert table.services[1].scheduler_flags == ["sh-port"] and table.services[1].persistence == 360
    assert table.services[0].scheduler_flags == []
    dns = {s.label: s for s in director_report(cluster, "director1", table).services}["UDP 10.20.0.10:53"]
    assert "scheduler flags sh-port, inventory none" in dns.issues


def test_no_ip_vs_module_is_said_not_guessed():
    table = parse_status("@@ not-loaded\n@@ addresses\n")
    assert table.state == "not-loaded" and table.services == []


def test_the_report_names_each_mismatch_with_the_inventory():
    cluster = load_cluster(FIXTURE)
    report = director_report(cluster, "director1", parse_status(SAMPLE))
    by_label = {s.label: s for s in report.services}
    web = by_label["TCP 10.20.0.10:80"]
    assert web.name == "web" and web.vip_here is True and web.issues == []
    rs2 = next(b for b in web.backends if b.host == "rs2")
    assert rs2.weight == 0 and rs2.inventory_weight == 1 and rs2.issue.startswith("weight 0, inventory 1")
    dns = by_label["UDP 10.20.0.10:53"]
    assert "persistence 360, inventory none" in dns.issues
    missing = [b for b in dns.backends if b.weight is None]
    assert missing and all(b.issue == "missing from the table" for b in missing)   # no checker in the fixture
    foreign = by_label["TCP 10.20.0.99:8080"]
    assert foreign.name is None and foreign.issues == ["not in the inventory (apply leaves it alone)"]
    assert report.issues >= 3


def test_json_has_a_schema_version_and_every_director():
    cluster = load_cluster(FIXTURE)
    report = director_report(cluster, "director1", parse_status(SAMPLE))
    data = json.loads(as_text_json([report]))
    assert data["schema"] == SCHEMA and data["directors"][0]["name"] == "director1"
    web = data["directors"][0]["services"][0]
    assert web["label"] == "TCP 10.20.0.10:80" and web["backends"][0]["rates"]["cps"] == 4
    assert data["directors"][0]["issue_count"] == report.issues


def test_prometheus_text_uses_node_exporters_names_and_labels():
    cluster = load_cluster(FIXTURE)
    text = prometheus([director_report(cluster, "director1", parse_status(SAMPLE))])
    assert "# TYPE node_ipvs_backend_weight gauge" in text
    assert ('node_ipvs_backend_connections_active{director="director1",local_address="10.20.0.10",local_port="80",'
            'local_mark="",proto="TCP",remote_address="10.20.0.11",remote_port="80"} 3') in text
    assert 'node_ipvs_connections_total{director="director1"} 130' in text
    assert 'lvsdeploy_vip_held{director="director1",vip="10.20.0.10",service="TCP 10.20.0.10:80"} 1' in text
    # every sample line is NAME{labels} VALUE, and every metric has HELP and TYPE once
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert samples and all(line.rsplit(" ", 1)[1].isdigit() for line in samples)
    for name in {line.split("{", 1)[0] for line in samples}:
        assert text.count(f"# TYPE {name} ") == 1 and text.count(f"# HELP {name} ") == 1


def test_json_documents_follow_their_published_schemas():
    # the schemas ship with the package (lvsdeploy/schemas); docs/status.md and docs/json.md describe them
    import jsonschema

    from lvsdeploy import render_json
    from lvsdeploy.status.report import unreachable
    schemas = Path(__file__).parents[2] / "lvsdeploy" / "schemas"
    cluster = load_cluster(FIXTURE)
    reports = [director_report(cluster, "director1", parse_status(SAMPLE)), unreachable(cluster, "d2", "no route")]
    jsonschema.validate(json.loads(as_text_json(reports)), json.loads((schemas / "status-1.json").read_text()))
    empty = render_json.plan_document([])
    jsonschema.validate(empty, json.loads((schemas / "plan-1.json").read_text()))
    bad = dict(empty, summary={"changes": -1})
    try:
        jsonschema.validate(bad, json.loads((schemas / "plan-1.json").read_text()))
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("the plan schema must refuse a summary without its counts")


def test_a_drained_real_server_at_weight_zero_is_no_mismatch():
    cluster = load_cluster(FIXTURE)
    drained = SAMPLE + "@@ drained\nTCP 10.20.0.10:80 10.20.0.12:80 2026-11-30T14:20:05Z\n"
    web = director_report(cluster, "director1", parse_status(drained)).services[0]
    rs2 = next(b for b in web.backends if b.host == "rs2")
    assert rs2.weight == 0 and rs2.issue is None and rs2.drained_since == "2026-11-30T14:20:05Z"


def test_with_a_checker_each_real_server_is_probed_and_the_reason_named(tmp_path):
    """The checker's view: every checked real server's probe runs in the one read (here with the HTTP probe's
    answers given), an out-of-rotation real server is named with what its check got, and JSON, text and
    Prometheus all carry it."""
    import shlex
    import subprocess

    import jsonschema
    import yaml

    from lvsdeploy.status.checks import checked_dests, probe_script
    data = yaml.safe_load(FIXTURE.read_text())
    data["all"]["vars"]["lvs_health_checker"] = "ldirectord"
    data["all"]["vars"]["lvs_virtual_services"][0]["health_check"] = {"type": "http", "path": "/whoami"}
    path = tmp_path / "dr.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    cluster = load_cluster(path)
    dests = checked_dests(cluster)
    web = [d for d in dests if d.service == "TCP 10.20.0.10:80"]
    assert [d.dest for d in web] == ["10.20.0.11:80", "10.20.0.12:80"]
    assert web[0].probe.command.startswith("curl ") and "http://10.20.0.11:80/whoami" in web[0].probe.command
    # the script as the director runs it, each probe's command standing in for curl: rs1 answers 200, rs2 404,
    # with no newline, as curl's -w '%{http_code}' prints them
    script = probe_script(dests)
    for d, answer in zip(dests, ["200", "404"] + ["open"] * len(dests)):
        script = script.replace(f"bash -c {shlex.quote(d.probe.command)}", f"bash -c {shlex.quote('printf ' + answer)}",
                                1)
    answers = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    table = SAMPLE.replace("  -> 10.20.0.12:80                Route   0      0          7\n", "")
    report = director_report(cluster, "director1", parse_status(table + answers), dests)
    rs1, rs2 = report.services[0].backends
    assert (rs1.check, rs1.check_reason, rs1.issue) == ("up", None, None)
    assert rs2.check == "down" and rs2.weight is None
    assert rs2.check_reason == "GET http://10.20.0.12:80/whoami (expected status 200) answered 404"
    assert rs2.issue == f"out of rotation: its check fails: {rs2.check_reason}"
    document = json.loads(as_text_json([report]))
    schemas = Path(__file__).parents[2] / "lvsdeploy" / "schemas"
    jsonschema.validate(document, json.loads((schemas / "status-1.json").read_text()))
    assert document["directors"][0]["services"][0]["backends"][1]["check"] == "down"
    text = prometheus([report])
    assert ('lvsdeploy_backend_check_up{director="director1",service="TCP 10.20.0.10:80",backend="10.20.0.12:80",'
            'host="rs2"} 0') in text
    assert ('lvsdeploy_backend_check_up{director="director1",service="TCP 10.20.0.10:80",backend="10.20.0.11:80",'
            'host="rs1"} 1') in text


def test_without_a_checker_nothing_is_probed():
    from lvsdeploy.status.checks import checked_dests, probe_script
    assert checked_dests(load_cluster(FIXTURE)) == [] and probe_script([]) == ""


def test_with_failover_the_vrrp_state_is_read_from_keepalived_since_it_started():
    """The journal read is verify's (KEEPALIVED_JOURNAL): the last state entered since keepalived started;
    text, JSON and Prometheus carry it."""
    import jsonschema
    cluster = load_cluster(FIXTURE)
    journal = ("@@ vrrp\nsince 5000000\n[    3.100000] director1 Keepalived_vrrp[500]: (VI_1) Entering MASTER STATE\n"
               "[    6.200000] director1 Keepalived_vrrp[700]: (VI_1) Entering BACKUP STATE (init)\n"
               "[    9.900000] director1 Keepalived_vrrp[700]: (VI_1) Entering MASTER STATE\n")
    report = director_report(cluster, "director1", parse_status(SAMPLE + journal))
    assert report.vrrp_state == "MASTER"
    backup = journal.replace("[    9.900000] director1 Keepalived_vrrp[700]: (VI_1) Entering MASTER STATE\n", "")
    assert director_report(cluster, "director1", parse_status(SAMPLE + backup)).vrrp_state == "BACKUP"
    # a start that logged no state yet: unknown; no failover (no section): None
    assert parse_status(SAMPLE + "@@ vrrp\nsince 99000000\n").vrrp_state == "unknown"
    assert parse_status(SAMPLE).vrrp_state is None
    # keepalived not running: its last logged state would still say MASTER
    assert parse_status(SAMPLE + journal.replace("@@ vrrp\n", "@@ vrrp\nkeepalived-not-running\n")).vrrp_state == \
        "STOPPED"
    document = json.loads(as_text_json([report]))
    jsonschema.validate(document, json.loads((Path(__file__).parents[2] / "lvsdeploy" / "schemas" /
                                              "status-1.json").read_text()))
    assert document["directors"][0]["vrrp_state"] == "MASTER"
    text = prometheus([report])
    assert 'lvsdeploy_vrrp_state{director="director1",state="MASTER"} 1' in text
    assert 'lvsdeploy_vrrp_state{director="director1",state="BACKUP"} 0' in text
