"""FULLNAT on the NAT lab (issue: FULLNAT on stock kernels): real servers with no route back to the client.

NAT needs the real servers to send their replies through the director (default route via the DIP). Take that
route away, as on a network where the real servers belong to someone else, and NAT stops answering; FULLNAT
answers, because the director rewrites the client's source to its DIP, which the real servers reach on their
own network. The step ends with the lab's own inventory applied again (routes back, lvsdeploy's chain gone).
"""

from pathlib import Path

from rich.console import Console

from lvsdeploy.facts.netfilter import CHAIN
from lvsdeploy.lab import control
from lvsdeploy.lab.inventory import UDP_WHOAMI_PORT, mode_inventory
from lvsdeploy.verify.checks import udp_probe_command

from . import storage_checks
from .lab import PROJECT_DIR, address, cli, molecule, ssh, whoami_counts


def answers_where_nat_cannot(lab, name: str, inventory: Path) -> None:
    vip, client, dip = lab.topology.vip, address(lab, "client", "lvs_client_ip"), address(lab, "director1", "lvs_dip")
    realservers = [v.name for v in lab.topology.vms if v.group == "realservers"]
    fullnat = mode_inventory(lab.dir, "fullnat")   # what the molecule scenario's converge applies
    try:
        for rs in realservers:   # NAT's way back, gone: the real servers reach their own segment only
            ssh(name, rs, "ip route del default")
            assert ssh(name, rs, f"ip route get {client}", check=False).returncode != 0, f"{rs} still routes to {client}"
        nat = ssh(name, "client", f"curl -s --max-time 3 http://{vip}/whoami", check=False)
        assert nat.returncode != 0, f"NAT answered without a route back: {nat.stdout}"

        plan = cli("plan", str(fullnat))
        assert plan.returncode == 2 and CHAIN in plan.stdout and "net.ipv4.vs.conntrack" in plan.stdout
        assert "see the director's DIP" in cli("validate", str(fullnat)).stdout
        # molecule's nat-fullnat scenario: converge applies it, idempotence finds nothing more, verify passes
        result = molecule(name, "test", "nat-fullnat", PROJECT_DIR, "--destroy", "never")
        assert result.returncode == 0, "molecule test -s nat-fullnat failed (output above)"
        assert "idempotence" in result.stdout.lower() and "already up" in result.stdout
        spread_and_source_nat(lab, name, realservers, dip)

        # survives the director's reboot: the boot script loads the chain again, and nothing is left to apply.
        # rs1 reboots with it (one wait for both): its NFS share comes back by itself, without the route it lost.
        control.reboot(Console(), name, ["director1", "rs1"])
        storage_checks.rebooted_realserver_serves_share(lab, fullnat, "rs1")   # plans nothing, too
        spread_and_source_nat(lab, name, realservers, dip)
    finally:
        assert cli("apply", "--yes", str(inventory)).returncode == 0   # NAT again: routes back, chain removed
    gone = ssh(name, "director1", f"iptables -w 5 -t nat -S {CHAIN}", check=False)
    assert gone.returncode != 0, f"{CHAIN} is left after fullnat left the inventory: {gone.stdout}"
    assert CHAIN not in ssh(name, "director1", "iptables -w 5 -t nat -S POSTROUTING").stdout
    assert cli("plan", str(inventory)).returncode == 0


def spread_and_source_nat(lab, name: str, realservers: list[str], dip: str) -> None:
    """20 requests through the VIP, 10 per real server (rr); a UDP datagram answered; each real server saw the
    DIP as the client."""
    counts = whoami_counts(name, lab.topology.vip, 20)
    assert counts == {rs: 20 // len(realservers) for rs in realservers}, counts
    udp = ssh(name, "client", udp_probe_command(lab.topology.vip, UDP_WHOAMI_PORT, 1, 5)).stdout.split()
    assert udp == ["answered"], f"udp {lab.topology.vip}:{UDP_WHOAMI_PORT}: {udp}"
    for rs in realservers:
        last = ssh(name, rs, "tail -n 1 /var/log/nginx/access.log").stdout.split()
        assert last and last[0] == dip, f"{rs} logged {last[:1]} as the client, not the DIP {dip}"
