"""The inventory a lab hands to lvsdeploy: ready to apply, with the lab's key and known_hosts."""

import copy
import os
from pathlib import Path

import yaml

from .topology import STORAGE_DISK, Topology

GROUP_ORDER = ("directors", "realservers", "storage", "clients", "lab_routers")
SPARE_DIRECTORS = ("director2",)   # booted by `lab up --directors 2`, used by the failover inventory only
UDP_WHOAMI_PORT = 5005   # lvslab-udp-whoami on every real server (lvsdeploy/lab/guest)


# IPVS tuning on every lab (so every verify and the reboot steps check it): timeouts other than the kernel's
# defaults (900 120 300) and a sysctl off by default, none of which changes what the lab's tests see
LAB_IPVS = {"timeouts": {"tcp": 3600, "tcpfin": 60, "udp": 120}, "sysctls": {"schedule_icmp": 1}}


def inventory_data(lab_dir: Path, topo: Topology, ports: dict[str, int]) -> dict:
    """The lab's inventory with its first director only (a second one joins in failover_data)."""
    groups: dict[str, dict] = {g: {"hosts": {}} for g in GROUP_ORDER}
    for spec in topo.vms:
        if spec.name in SPARE_DIRECTORS:
            continue
        groups[spec.group]["hosts"][spec.name] = {"ansible_host": "127.0.0.1", "ansible_port": ports[spec.name],
                                                  **spec.host_vars}
    realservers = [v.name for v in topo.vms if v.group == "realservers"]
    services = [_service("web", topo, 80, "tcp", realservers),
                _service("whoami-udp", topo, UDP_WHOAMI_PORT, "udp", realservers)]
    shared = {}
    storage = [v.name for v in topo.vms if v.group == "storage"]
    if storage:
        # nginx serves /var/www/html, so /shared/<file> on the VIP comes from the storage node via every real server
        shared["lvs_shared_storage"] = [{
            "name": "content", "type": "nfs", "server": storage[0],
            "export": "/srv/lvs/content", "mount": "/var/www/html/shared",
        }]
    return {"all": {
        "vars": {
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(lab_dir / "id_ed25519"),
            "lvs_known_hosts_file": str(lab_dir / "known_hosts"),
            "lvs_virtual_services": services,
            "lvs_ipvs": copy.deepcopy(LAB_IPVS),
            **shared,
        },
        "children": {g: body for g, body in groups.items() if body["hosts"]},
    }}


def _service(name: str, topo: Topology, port: int, protocol: str, realservers: list[str]) -> dict:
    """A round-robin service on the lab's VIP, in the lab's mode (topologies are named after LVS modes)."""
    return {
        "name": name, "vip": topo.vip, "port": port, "protocol": protocol, "mode": topo.mode,
        "scheduler": "rr", "realservers": [{"host": rs, "weight": 1} for rs in realservers],
    }


# The lab's real servers answer /whoami; a check every second that takes a server out after 2 failures shows
# the checkers at work within seconds.
LAB_HEALTH_CHECK = {"type": "http", "path": "/whoami", "interval": 1, "timeout": 1, "retries": 2}


def with_health_checker(data: dict, checker: str) -> dict:
    """The lab's inventory with its directors' IPVS table kept by `checker`, and an HTTP check of the web
    service (the UDP service keeps the default: no check)."""
    body = copy.deepcopy(data)
    body["all"]["vars"]["lvs_health_checker"] = checker
    body["all"]["vars"]["lvs_virtual_services"][0]["health_check"] = dict(LAB_HEALTH_CHECK)
    return body


def checker_inventory_path(lab_dir: Path, checker: str) -> Path:
    """Where the lab's inventory for `checker` is; "none" is inventory.yml itself."""
    return lab_dir / ("inventory.yml" if checker == "none" else f"inventory-{checker}.yml")


def checker_inventory(lab_dir: Path, checker: str) -> Path:
    """Write (beside inventory.yml) and return the lab's inventory for `checker`; "none" is inventory.yml."""
    base, path = lab_dir / "inventory.yml", checker_inventory_path(lab_dir, checker)
    if checker == "none":
        return base
    header = f"# Written by `lvsdeploy lab inventory --health-checker {checker}` from inventory.yml.\n"
    data = with_health_checker(yaml.safe_load(base.read_text()), checker)
    path.write_text(header + yaml.safe_dump(data, sort_keys=False))
    return path


# Another forwarding mode for the lab's services: FULLNAT fits the NAT topology (the director between the client and
# the real servers' private segment), where it needs no route from the real servers back to the client.
SERVICE_MODES = ("fullnat",)


def with_service_mode(data: dict, mode: str) -> dict:
    body = copy.deepcopy(data)
    for svc in body["all"]["vars"]["lvs_virtual_services"]:
        svc["mode"] = mode
    return body


def mode_inventory_path(lab_dir: Path, mode: str) -> Path:
    return lab_dir / f"inventory-{mode}.yml"


def mode_inventory(lab_dir: Path, mode: str) -> Path:
    """Write (beside inventory.yml) and return the lab's inventory with every service in `mode`."""
    path = mode_inventory_path(lab_dir, mode)
    header = f"# Written by `lvsdeploy lab inventory --mode {mode}` from inventory.yml.\n"
    data = with_service_mode(yaml.safe_load((lab_dir / "inventory.yml").read_text()), mode)
    path.write_text(header + yaml.safe_dump(data, sort_keys=False))
    return path


# Failover on the lab: VRRP adverts every 0.5 s (a backup takes over within about 1.5 s of silence); a director
# that comes back waits 10 s (synced and checked) before it takes the VIPs back. NAT: the real servers' gateway
# floats with the VIPs (.254 of the private segment).
LAB_FAILOVER = {"advert_int": 0.5, "preempt_delay": 10}
LAB_NAT_GATEWAY = "10.10.0.254/24"


def failover_data(data: dict, topo: Topology, ports: dict[str, int]) -> dict:
    """The lab's inventory with both directors: keepalived fails the VIPs over and checks the web service."""
    body = with_health_checker(data, "keepalived")
    spec = topo.vm(SPARE_DIRECTORS[0])
    body["all"]["children"]["directors"]["hosts"][spec.name] = {"ansible_host": "127.0.0.1",
                                                                "ansible_port": ports[spec.name], **spec.host_vars}
    body["all"]["vars"]["lvs_failover"] = {**LAB_FAILOVER,
                                           **({"gateway": LAB_NAT_GATEWAY} if topo.mode == "nat" else {})}
    return body


def failover_inventory_path(lab_dir: Path) -> Path:
    return lab_dir / "inventory-failover.yml"


# A cluster filesystem on the lab: the storage node's blank disk as the LUN, mounted by every real server under
# the web root (so /cluster/<file> on the VIP is served from it), besides the NFS share.
CLUSTER_FS_TYPES = ("gfs2", "ocfs2")
CLUSTER_SHARE = {"name": "cluster", "device": f"/dev/disk/by-id/virtio-{STORAGE_DISK}", "mount": "/var/www/html/cluster"}


def cluster_fs_data(data: dict, fstype: str, key_file: Path) -> dict:
    body = copy.deepcopy(data)
    server = next(iter(body["all"]["children"]["storage"]["hosts"]))
    body["all"]["vars"]["lvs_shared_storage"].append({**CLUSTER_SHARE, "type": fstype, "server": server})
    body["all"]["vars"]["lvs_storage_cluster"] = {"key_file": str(key_file)}
    return body


def cluster_fs_inventory(lab_dir: Path, fstype: str) -> Path:
    """Write (beside inventory.yml) and return the lab's inventory with a `fstype` share on the storage disk."""
    path = lab_dir / f"inventory-{fstype}.yml"
    header = f"# Written by `lvsdeploy lab inventory --cluster-fs {fstype}` from inventory.yml.\n"
    key = lab_dir / "corosync-authkey"
    if not key.exists():   # what corosync-keygen makes: 256 random bytes
        key.write_bytes(os.urandom(256))
        key.chmod(0o600)
    data = cluster_fs_data(yaml.safe_load((lab_dir / "inventory.yml").read_text()), fstype, key)
    path.write_text(header + yaml.safe_dump(data, sort_keys=False))
    return path


def write_inventory(lab_dir: Path, topo: Topology, ports: dict[str, int]) -> Path:
    path = lab_dir / "inventory.yml"
    header = f"# Written by `lvsdeploy lab up --topology {topo.mode}`; regenerated on every lab up.\n"
    data = inventory_data(lab_dir, topo, ports)
    path.write_text(header + yaml.safe_dump(data, sort_keys=False))
    if any(v.name in SPARE_DIRECTORS for v in topo.vms):
        header = (f"# Written by `lvsdeploy lab up --topology {topo.mode} --directors 2`: both directors, VRRP and "
                  "connection sync by keepalived.\n")
        failover_inventory_path(lab_dir).write_text(
            header + yaml.safe_dump(failover_data(data, topo, ports), sort_keys=False))
    return path
