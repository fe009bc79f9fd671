"""Benchmark: reading a host's facts in ONE remote command (what lvsdeploy does) against one remote command
per task (what a task-by-task tool does), on a running lab, for a growing number of virtual services.

    .venv/bin/python benchmarks/facts_round_trips.py --lab lab --services 1 8 16

Prints, per service count: tasks on the director, round trips and seconds for both ways, and the ratio.
Numbers come from one run on whatever machine runs it; quote them with that machine's description.
"""

import argparse
import copy
import tempfile
import time
from ipaddress import IPv4Address
from pathlib import Path

import yaml

from lvsdeploy.executor import connect
from lvsdeploy.facts import gather
from lvsdeploy.inventory import load_cluster
from lvsdeploy.lab import control
from lvsdeploy.modules import MODULES
from lvsdeploy.modules.base import FactsRequest
from lvsdeploy.plan import host_tasks


def inventory_with(source: Path, services: int, dest: Path) -> Path:
    data = yaml.safe_load(source.read_text())
    base = data["all"]["vars"]["lvs_virtual_services"][0]
    first = IPv4Address(base["vip"])
    data["all"]["vars"]["lvs_virtual_services"] = [
        {**copy.deepcopy(base), "name": f"web{i}", "vip": str(first + 20 + i) if i else str(first)}
        for i in range(services)
    ]
    dest.write_text(yaml.safe_dump(data, sort_keys=False))
    return dest


def measure(inventory: Path, repeat: int) -> dict:
    cluster = load_cluster(inventory)
    director = cluster.directors()[0]
    tasks = host_tasks(cluster, director).tasks
    session = connect(director)
    try:
        one = time.monotonic()
        trips_before = session.round_trips
        for _ in range(repeat):
            request = FactsRequest()
            for task in tasks:
                request.merge(MODULES[task.module].facts_needed(task.args))
            gather.parse(session.run_script(gather.build_command(request)).stdout)
        one_seconds, one_trips = (time.monotonic() - one) / repeat, (session.round_trips - trips_before) / repeat
        per = time.monotonic()
        trips_before = session.round_trips
        for _ in range(repeat):
            for task in tasks:
                command = gather.build_command(MODULES[task.module].facts_needed(task.args))
                gather.parse(session.run_script(command).stdout)
        per_seconds, per_trips = (time.monotonic() - per) / repeat, (session.round_trips - trips_before) / repeat
    finally:
        session.close()
    return {"tasks": len(tasks), "one": (one_trips, one_seconds), "per_task": (per_trips, per_seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="lab")
    parser.add_argument("--services", type=int, nargs="+", default=[1, 8, 16])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    source = control.inventory_path(args.lab)
    print(f"{'services':>8} {'tasks':>5} | {'one command':>18} | {'one per task':>18} | ratio")
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.services:
            result = measure(inventory_with(source, count, Path(tmp) / f"inv{count}.yml"), args.repeat)
            (t1, s1), (t2, s2) = result["one"], result["per_task"]
            print(f"{count:>8} {result['tasks']:>5} | {t1:>3.0f} trips {s1:>7.2f} s | {t2:>3.0f} trips {s2:>7.2f} s "
                  f"| {s2 / s1:5.1f}x")


if __name__ == "__main__":
    main()
