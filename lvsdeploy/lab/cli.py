"""`lvsdeploy lab ...`: thin wrapper over lvsdeploy.lab.control."""

import argparse
import os
import sys

from rich.console import Console
from rich.table import Table

from ..lvs import CHECKERS
from . import control, image, prereqs, topology
from .errors import LabError
from .inventory import (CLUSTER_FS_TYPES, SERVICE_MODES, checker_inventory, cluster_fs_inventory, failover_inventory_path,
                        mode_inventory)


def add_parser(sub: argparse._SubParsersAction) -> None:
    lab = sub.add_parser("lab", help="a local LVS lab of QEMU VMs").add_subparsers(dest="lab_command", required=True)

    def named(name: str, help: str) -> argparse.ArgumentParser:
        p = lab.add_parser(name, help=help)
        p.add_argument("--name", default="lab", help="lab name (default: lab); labs with different names coexist")
        return p

    p = named("up", "build the image if needed and boot a topology")
    p.add_argument("--topology", choices=topology.TOPOLOGIES, default="dr")
    p.add_argument("--realservers", type=int, default=2, metavar="N")
    p.add_argument("--no-storage", dest="storage", action="store_false", help="no storage1 VM")
    p.add_argument("--directors", type=int, choices=(1, 2), default=1,
                   help="2: a second director (dr, nat) and inventory-failover.yml with both, failing over")
    p.add_argument("--memory", type=int, default=512, metavar="MB", help="memory per VM (default 512)")
    p.add_argument("--mirror", help="Debian mirror for the image build (default: $LVSDEPLOY_MIRROR or deb.debian.org)")
    p = lab.add_parser("image", help="build the lab image, or report the cached one")
    p.add_argument("--mirror", help="Debian mirror (default: $LVSDEPLOY_MIRROR or deb.debian.org)")
    named("down", "stop the lab's VMs and switches and remove its files")
    named("status", "VMs, SSH ports, up/down")
    p = named("ssh", "open a shell on a lab VM, or run a command: lab ssh rs1 -- ip addr")
    p.add_argument("host")
    p.add_argument("remote_command", nargs=argparse.REMAINDER, metavar="-- CMD")
    p = named("reboot", "reboot VMs (all by default) and wait until they answer again")
    p.add_argument("hosts", nargs="*")
    p = named("poweroff", "pull a VM's plug: its QEMU process is killed, the guest does not shut down")
    p.add_argument("host")
    p = named("start", "boot a powered-off VM again and wait until it answers SSH")
    p.add_argument("host")
    p = named("inventory", "print the path of the lab's inventory")
    p.add_argument("--failover", action="store_true",
                   help="the inventory with both directors (a lab up with --directors 2)")
    p.add_argument("--health-checker", choices=CHECKERS, default="none",
                   help="the lab's inventory with its IPVS table kept by this checker (written beside it)")
    p.add_argument("--cluster-fs", choices=CLUSTER_FS_TYPES,
                   help="the lab's inventory with a share of this cluster filesystem on the storage node's disk")
    p.add_argument("--mode", choices=("topology", *SERVICE_MODES), default="topology",
                   help="the lab's inventory with every service in this forwarding mode (default: the topology's)")


def run(args: argparse.Namespace, console: Console) -> int:
    cmd = args.lab_command
    if cmd == "up":
        control.up(console, args.topology, args.name, args.realservers, args.storage, args.memory, args.mirror,
                   args.directors)
    elif cmd == "image":
        prereqs.check()
        cached = image.cached_image()
        found = cached or image.ensure_image(console, args.mirror)
        console.print(f"{'Cached' if cached else 'Built'} image: {found.dir}")
    elif cmd == "down":
        control.down(console, args.name)
    elif cmd == "status":
        table = Table("vm", "group", "ssh", "pid", "state", "addresses", title=f"lab {args.name}")
        for row in control.status(args.name):
            table.add_row(*(str(row[k] or "-") for k in ("vm", "group", "ssh", "pid", "state", "addresses")))
        console.print(table)
    elif cmd == "ssh":
        command = args.remote_command[1:] if args.remote_command[:1] == ["--"] else args.remote_command
        argv = control.ssh_argv(args.name, args.host, command)
        if not command and sys.stdin.isatty():
            argv.insert(1, "-t")
        sys.stdout.flush()
        os.execvp(argv[0], argv)
    elif cmd == "reboot":
        control.reboot(console, args.name, args.hosts or None)
    elif cmd == "poweroff":
        control.poweroff(console, args.name, args.host)
    elif cmd == "start":
        control.start(console, args.name, args.host)
    elif cmd == "inventory" and args.failover:
        path = failover_inventory_path(control.inventory_path(args.name).parent)
        if not path.exists():
            raise LabError(f"lab {args.name} has one director; boot it with `lvsdeploy lab up --directors 2`")
        print(path)
    elif cmd == "inventory" and args.mode != "topology":
        if args.health_checker != "none" or args.cluster_fs or args.failover:
            raise LabError("--mode is not combined with --health-checker, --cluster-fs or --failover; pick one")
        print(mode_inventory(control.inventory_path(args.name).parent, args.mode))
    elif cmd == "inventory" and args.cluster_fs:
        print(cluster_fs_inventory(control.inventory_path(args.name).parent, args.cluster_fs))
    elif cmd == "inventory":
        print(checker_inventory(control.inventory_path(args.name).parent, args.health_checker))
    return 0
