"""The inventory a lab hands to lvsdeploy: ready to apply, with the lab's key and known_hosts."""

from pathlib import Path

import yaml

from .topology import Topology

GROUP_ORDER = ("directors", "realservers", "storage", "clients", "lab_routers")
LVS_MODE = {"nat": "nat", "dr": "dr", "tun": "tun"}


def inventory_data(lab_dir: Path, topo: Topology, ports: dict[str, int]) -> dict:
    groups: dict[str, dict] = {g: {"hosts": {}} for g in GROUP_ORDER}
    for spec in topo.vms:
        groups[spec.group]["hosts"][spec.name] = {"ansible_host": "127.0.0.1", "ansible_port": ports[spec.name],
                                                  **spec.host_vars}
    realservers = [v.name for v in topo.vms if v.group == "realservers"]
    service = {
        "name": "web", "vip": topo.vip, "port": 80, "protocol": "tcp", "mode": LVS_MODE[topo.mode],
        "scheduler": "rr", "realservers": [{"host": rs, "weight": 1} for rs in realservers],
    }
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
            "lvs_virtual_services": [service],
            **shared,
        },
        "children": {g: body for g, body in groups.items() if body["hosts"]},
    }}


def write_inventory(lab_dir: Path, topo: Topology, ports: dict[str, int]) -> Path:
    path = lab_dir / "inventory.yml"
    header = f"# Written by `lvsdeploy lab up --topology {topo.mode}`; regenerated on every lab up.\n"
    path.write_text(header + yaml.safe_dump(inventory_data(lab_dir, topo, ports), sort_keys=False))
    return path
