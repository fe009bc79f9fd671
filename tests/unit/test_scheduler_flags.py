"""Scheduler flags (scheduler_flags, ipvsadm -b): only the scheduler's own, read back from `ipvsadm -Sn`, changed
with -E (an edit without -b clears them), compared by verify, handed to keepalived (ldirectord refuses them)."""

from lvsdeploy.facts.ipvs import parse_rules
from lvsdeploy.modules import ipvs
from lvsdeploy.verify.checks import ipvs_rows

from test_checker_roles import block, inventory, rendered
from test_modules_ipvs import args, director_table, ours
from test_validate import check, line_of, one, services


def flags(scheduler: str, *names: str):
    def change(inv):
        services(inv)[0].update(scheduler=scheduler, scheduler_flags=list(names))
    return change


def test_only_the_schedulers_own_flags_once_each(tmp_path):
    assert check(tmp_path, flags("sh", "sh-port", "sh-fallback")) == []
    assert check(tmp_path, flags("mh", "mh-port")) == []
    problem = one(check(tmp_path, flags("rr", "sh-port")), "service web: scheduler_flags",
                  "sh-port is a flag of scheduler sh, not of rr")
    assert problem.line == line_of(tmp_path, "scheduler_flags")
    one(check(tmp_path, flags("mh", "sh-port")), "service web: scheduler_flags",
        "not of mh (which takes mh-fallback, mh-port)")
    one(check(tmp_path, flags("sh", "sh-port", "sh-port")), "service web: scheduler_flags", "lists sh-port twice")
    one(check(tmp_path, flags("sh", "sh-port; reboot")), "service web: scheduler_flags[0]",
        "sh-fallback, sh-port, mh-fallback")


def test_flags_are_read_from_ipvsadm_save_sorted():
    (service,) = parse_rules("-A -t 10.20.0.10:80 -s mh -p 60 -b mh-port,mh-fallback\n").services
    assert service.flags == ("mh-fallback", "mh-port") and service.persistence == 60
    (plain,) = parse_rules("-A -t 10.20.0.10:80 -s sh\n").services
    assert plain.flags == ()


def test_a_flag_is_an_edit_and_leaving_it_out_clears_it():
    wanted = director_table()
    wanted[0].scheduler, wanted[0].flags = "sh", ("sh-fallback", "sh-port")
    (change,) = ipvs.plan(args(wanted), ours())
    assert change.diff[0] == "~ TCP 10.20.0.10:80 rr -> sh (sh-fallback,sh-port)"
    assert change.commands == ("ipvsadm -E -t 10.20.0.10:80 -s sh -b sh-fallback,sh-port",)
    facts = ours()
    facts.ipvs.services[0].scheduler, facts.ipvs.services[0].flags = "sh", ("sh-port",)
    wanted[0].flags = ()
    (change,) = ipvs.plan(args(wanted), facts)
    assert change.commands == ("ipvsadm -E -t 10.20.0.10:80 -s sh",)
    assert "-A -t 10.20.0.10:80 -s sh" in [line for _, line in ipvs.persist(args(wanted), facts)]


def test_verify_compares_the_flags():
    assert ipvs_rows("-A -t 10.20.0.10:80 -s sh -b sh-port,sh-fallback\n") == {
        "TCP 10.20.0.10:80 sh (sh-fallback,sh-port)"}


def dns_with_flags(checker: str) -> list[dict]:
    data = inventory(checker)
    dns = next(s for s in data["all"]["vars"]["lvs_virtual_services"] if s["name"] == "dns")
    dns.update(scheduler="sh", scheduler_flags=["sh-port", "sh-fallback"])
    return data["all"]["vars"]["lvs_virtual_services"]


def test_keepalived_gets_the_flags_as_keywords(tmp_path):
    conf = rendered(tmp_path, "keepalived", dns_with_flags("keepalived"))
    dns = block(conf, "virtual_server 10.20.0.10 53")
    assert dns[dns.index("lb_algo sh") + 1: dns.index("lb_algo sh") + 3] == ["sh-fallback", "sh-port"]


def test_ldirectord_refuses_flags(tmp_path):
    (svc,) = [s for s in dns_with_flags("ldirectord") if s["name"] == "dns"]

    def change(inv):
        inv["all"]["vars"]["lvs_health_checker"] = "ldirectord"
        services(inv)[:] = [svc]
    one(check(tmp_path, change), "service dns: scheduler_flags", "ldirectord cannot set scheduler flags")
