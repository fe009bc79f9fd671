"""Schedulers, persistence and thresholds measured through the VIP (issue: FULLNAT and the rest of IPVS).

On the NAT lab, which may map ports: one apply adds a service per behaviour on the lab's VIP (ports 8001..8008,
each to the real servers' port 80, and a persistent fwmark group of 8009+8010 that lvsdeploy marks, which keeps
each packet's port), the client sends requests from its own address or from six more of its
network, and each behaviour is compared with what its name promises. The table of observed against expected is
printed (run with -s to see it). The step ends with the lab's own inventory applied again.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

from .lab import address, cli, cli_confirmed_after, edited_inventory, ssh, whoami_counts

WRR, SH, LC, WLC, PERSISTENT, NETMASK, THRESHOLD, SH_PORT, GROUP_A, GROUP_B = range(8001, 8011)
MARK = 1             # the fwmark of the group of GROUP_A and GROUP_B
EXTRA_CLIENTS = 6    # more client addresses (sh, -p and -M sort clients by address)
HELD_FOR = 60        # seconds a held connection stays open (nginx closes an idle one after 60 s anyway)


def _service(name: str, vip: str, port: int, scheduler: str, realservers: list[dict], **more) -> dict:
    return {"name": name, "vip": vip, "port": port, "protocol": "tcp", "mode": "nat", "scheduler": scheduler,
            "realservers": [{"port": 80, **rs} for rs in realservers], **more}


def scheduler_services(vip: str, rs1: str, rs2: str) -> list[dict]:
    both = [{"host": rs1}, {"host": rs2}]
    return [
        _service("wrr-3-1", vip, WRR, "wrr", [{"host": rs1, "weight": 3}, {"host": rs2, "weight": 1}]),
        _service("sh", vip, SH, "sh", both),
        _service("lc", vip, LC, "lc", both),
        _service("wlc", vip, WLC, "wlc", both),
        _service("rr-p", vip, PERSISTENT, "rr", both, persistence=300),
        _service("rr-p-m24", vip, NETMASK, "rr", both, persistence=300, persistence_netmask="255.255.255.0"),
        _service("rr-x3", vip, THRESHOLD, "rr", [{"host": rs1, "upper_threshold": 3}, {"host": rs2}]),
        _service("sh-port", vip, SH_PORT, "sh", both, scheduler_flags=["sh-port"]),
        # two ports as one persistent service: lvsdeploy writes the mark. No port anywhere: a persistent fwmark
        # service keeps each packet's port, so the real servers listen on both (group_listeners)
        {"name": "group", "vip": vip, "fwmark": MARK, "fwmark_ports": [GROUP_A, GROUP_B], "protocol": "tcp",
         "mode": "nat", "scheduler": "rr", "persistence": 300, "realservers": both},
    ]


GROUP_LISTENERS = "/etc/nginx/conf.d/lvslab-group.conf"


def group_listeners(name: str, hosts: tuple[str, ...], on: bool) -> None:
    """Test setup, not lvsdeploy's: nginx of each real server also serves its whoami on GROUP_A and GROUP_B."""
    conf = f"server {{ listen {GROUP_A}; listen {GROUP_B}; root /var/www/html; }}"
    for host in hosts:
        ssh(name, host, (f"echo '{conf}' > {GROUP_LISTENERS}" if on else f"rm -f {GROUP_LISTENERS}")
            + " && systemctl reload nginx", check=on)


class Measure:
    def __init__(self, lab, name: str):
        self.lab, self.name, self.vip = lab, name, lab.topology.vip
        client = IPv4Interface(lab.topology.vm("client").host_vars["lvs_client_ip"])
        # the last addresses of the client's network: nothing of the lab uses them
        self.extra = [str(client.network.broadcast_address - 1 - i) for i in range(EXTRA_CLIENTS)]
        self.device = ssh(name, "client", f"ip -o -4 addr show to {client.ip} | cut -d' ' -f2").stdout.strip()
        self.rows: list[tuple[str, str, str]] = []

    def row(self, what: str, observed, expected) -> None:
        self.rows.append((what, str(observed), str(expected)))

    def counts(self, port: int, requests: int) -> dict[str, int]:
        return whoami_counts(self.name, f"{self.vip}:{port}", requests)

    def by_source(self, port: int, each: int) -> dict[str, list[str]]:
        """{client address: the real servers that answered its `each` requests, in order}."""
        return self.alternating((port,), each)

    def active(self, port: int) -> dict[str, int]:
        """ActiveConn of each real server of VIP:port, by RIP, from the director's table."""
        out = ssh(self.name, "director1", f"ipvsadm -Ln -t {self.vip}:{port}").stdout
        return {words[1].split(":")[0]: int(words[4]) for words in map(str.split, out.splitlines())
                if len(words) >= 6 and words[0] == "->" and words[1][0].isdigit()}

    def alternating(self, ports: tuple[int, ...], rounds: int) -> dict[str, list[str]]:
        """{client address: the real servers that answered, in order}: each address asks the ports in turn,
        `rounds` times."""
        asks = " ".join(str(p) for _ in range(rounds) for p in ports)
        loop = (f"for a in {' '.join(self.extra)}; do for p in {asks}; do "
                f"echo \"$a $(curl -s --max-time 5 --interface $a http://{self.vip}:$p/whoami)\"; done; done")
        found: dict[str, list[str]] = {}
        for line in ssh(self.name, "client", loop).stdout.splitlines():
            address, _, answer = line.partition(" ")
            found.setdefault(address, []).append(answer.strip())
        return found

    def templates(self, port: int, vip: str | None = None) -> dict[str, int]:
        """{client address: seconds left} of the persistence templates of VIP:port (`ipvsadm -Lnc` rows whose
        client port is 0: "TCP 04:58 ASSURED 192.168.100.250:0 192.168.100.10:8005 10.10.0.12:80"); a fwmark
        service's templates name the mark as their virtual address and port 0."""
        found, service = {}, f"{vip or self.vip}:{port}"
        for words in map(str.split, ssh(self.name, "director1", "ipvsadm -Lnc").stdout.splitlines()):
            if len(words) >= 6 and words[3].endswith(":0") and words[4] == service:
                minutes, _, seconds = words[1].partition(":")
                found[words[3][:-2]] = int(minutes) * 60 + int(seconds)
        return found

    def hold_one(self, port: int) -> None:
        """One idle connection to VIP:port from the client, open until released (a background bash that
        waits to read from it)."""
        ssh(self.name, "client", f"setsid -f bash -c 'exec 3<>/dev/tcp/{self.vip}/{port} && read -t {HELD_FOR} -u 3' "
                                 "</dev/null >/dev/null 2>&1; sleep 1")

    def release(self, port: int) -> None:
        ssh(self.name, "client", f"pkill -f 'tcp/{self.vip}/{port}[ ]' || true")

    def table(self) -> str:
        width = max(len(r[0]) for r in self.rows)
        lines = [f"{'behaviour'.ljust(width)} | observed | expected"]
        lines += [f"{what.ljust(width)} | {observed} | {expected}" for what, observed, expected in self.rows]
        return "\n".join(lines)


def measured_through_the_vip(lab, name: str, inventory: Path, tmp_path: Path) -> None:
    rs1, rs2 = "rs1", "rs2"
    rip1 = address(lab, rs1)
    names = {address(lab, rs): rs for rs in (rs1, rs2)}

    def add(data):
        data["all"]["vars"]["lvs_virtual_services"] += scheduler_services(lab.topology.vip, rs1, rs2)
    schedulers = edited_inventory(inventory, tmp_path / "schedulers.yml", add)
    m = Measure(lab, name)
    try:
        planned = cli("plan", str(schedulers))   # the mark is lvsdeploy's own rule, shown before it is written
        assert planned.returncode == 2 and f"--dports {GROUP_A},{GROUP_B} -j MARK" in planned.stdout, \
            planned.stdout[-3000:]
        assert cli("apply", "--yes", str(schedulers)).returncode == 0
        plan = cli("plan", str(schedulers))   # thresholds are read back (ipvsadm -Sn does not show them)
        assert plan.returncode == 0 and "Plan: 0 changes" in plan.stdout, plan.stdout[-3000:]
        for extra in m.extra:
            ssh(name, "client", f"ip addr add {extra}/32 dev {m.device}")
        group_listeners(name, (rs1, rs2), on=True)

        wrr = m.counts(WRR, 400)
        m.row("wrr 3:1, 400 requests", f"{wrr.get(rs1, 0)}:{wrr.get(rs2, 0)}", "300:100 (±10 %)")
        assert abs(wrr.get(rs1, 0) - 300) <= 30 and sum(wrr.values()) == 400, wrr

        sh = m.by_source(SH, 3)
        kept = all(len(set(answers)) == 1 for answers in sh.values())
        spread = {answers[0] for answers in sh.values()}
        m.row(f"sh, {EXTRA_CLIENTS} client addresses x 3", f"each kept: {kept}; servers used: {sorted(spread)}",
              "each kept; both used")
        assert kept and spread == {rs1, rs2}, sh

        by_port = m.counts(SH_PORT, 20)   # the client's port joins the hash: one address, new port each time
        m.row("sh -b sh-port, one client address, 20 requests", by_port, "both used")
        assert set(by_port) == {rs1, rs2}, by_port

        for scheduler, port in (("lc", LC), ("wlc", WLC)):
            m.hold_one(port)
            try:
                held = {names[rip]: n for rip, n in m.active(port).items() if n}
                assert len(held) == 1, f"{scheduler}: the held connection is not on one real server: {held}"
                (busy,) = held
                after = m.counts(port, 10)
            finally:
                m.release(port)
            idle = rs2 if busy == rs1 else rs1
            m.row(f"{scheduler}, 1 connection held on {busy}, then 10 requests", after, f"{{{idle!r}: 10}}")
            assert after == {idle: 10}, f"{scheduler}: {after}"

        persistent = m.by_source(PERSISTENT, 3)
        kept = all(len(set(answers)) == 1 for answers in persistent.values())
        spread = {answers[0] for answers in persistent.values()}
        templates = {a: left for a, left in m.templates(PERSISTENT).items() if a in m.extra}
        m.row(f"rr -p 300, {EXTRA_CLIENTS} addresses x 3", f"each kept: {kept}; servers used: {sorted(spread)}; "
              f"templates: {len(templates)}", f"each kept; both used; {EXTRA_CLIENTS} templates")
        assert kept and spread == {rs1, rs2} and len(templates) == EXTRA_CLIENTS, (persistent, templates)
        left = templates[m.extra[0]]
        m.row("rr -p 300, the first client's template", f"expires in {left} s", "240..300 s")
        assert 240 <= left <= 300, templates

        grouped = m.by_source(NETMASK, 3)
        servers = {answer for answers in grouped.values() for answer in answers}
        m.row(f"rr -p 300 -M 255.255.255.0, {EXTRA_CLIENTS} addresses x 3", f"servers used: {sorted(servers)}",
              "one server for the /24")
        assert len(servers) == 1, grouped

        group = m.alternating((GROUP_A, GROUP_B), 2)
        kept = all(len(answers) == 4 and len(set(answers)) == 1 for answers in group.values())
        spread = {answers[0] for answers in group.values()}
        # one template per client for both ports: IPVS names the mark, not a port, as its virtual service
        mark_templates = {a for a in m.templates(0, vip=str(ipv4_of_mark(MARK))) if a in m.extra}
        m.row(f"fwmark {MARK} = :{GROUP_A} + :{GROUP_B}, rr -p 300, {EXTRA_CLIENTS} addresses x both ports x 2",
              f"each kept across ports: {kept}; servers used: {sorted(spread)}; templates: {len(mark_templates)}",
              f"each kept; both used; {EXTRA_CLIENTS} templates")
        assert kept and spread == {rs1, rs2} and len(mark_templates) == EXTRA_CLIENTS, (group, mark_templates)

        capped = m.counts(THRESHOLD, 20)
        m.row("rr, rs1 -x 3, 20 requests", capped, f"{{{rs1!r}: 3, {rs2!r}: 17}}")
        assert capped == {rs1: 3, rs2: 17}, capped
        print("\n" + m.table())

        # verify finds the thresholds, flags and marks, and the group answers on both ports
        checked = cli("verify", str(schedulers), "--", "-rA", "-k",
                      "thresholds or table_equals or fwmark or (through_vip and group)")
        passed = [line for line in checked.stdout.splitlines() if line.startswith("PASSED")]
        assert checked.returncode == 0 and any("test_http_through_vip[group]" in line for line in passed) and any(
            "test_fwmark_marks" in line for line in passed), checked.stdout[-3000:]
        # a threshold set by hand between plan and apply (ipvsadm -Sn cannot show it) stops the apply, and the next
        # plan shows it as drift
        def reweighted(data):
            add(data)
            service = next(s for s in data["all"]["vars"]["lvs_virtual_services"] if s.get("port") == THRESHOLD)
            service["realservers"][1]["weight"] = 2
        changed = edited_inventory(inventory, tmp_path / "reweighted.yml", reweighted)
        stale = cli_confirmed_after(changed, lambda: ssh(
            name, "director1", f"ipvsadm -e -t {m.vip}:{THRESHOLD} -r {rip1}:80 -m -w 1 -x 9"))
        assert stale.returncode != 0 and "changed since the plan was made" in stale.stdout, stale.stdout[-3000:]
        drift = cli("plan", str(schedulers))
        assert drift.returncode == 2 and "thresholds 9/0 -> thresholds 3/0" in drift.stdout, drift.stdout[-3000:]
    finally:
        for extra in m.extra:
            ssh(name, "client", f"ip addr del {extra}/32 dev {m.device}", check=False)
        group_listeners(name, (rs1, rs2), on=False)
        assert cli("apply", "--yes", str(inventory)).returncode == 0   # the extra services removed
    assert cli("plan", str(inventory)).returncode == 0
    gone = ssh(name, "director1", "iptables -w 5 -t mangle -S LVSDEPLOY-FWMARK", check=False)
    assert gone.returncode != 0, f"the marking chain outlived its service: {gone.stdout}"


def ipv4_of_mark(mark: int) -> IPv4Address:
    """How `ipvsadm -Lnc` prints a fwmark service's virtual address: the mark as an IPv4 address (1 -> 0.0.0.1)."""
    return IPv4Address(mark)
