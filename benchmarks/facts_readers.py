"""Benchmark: the remote run time of each fact reader, per host, on a running lab (or any inventory).

    .venv/bin/python benchmarks/facts_readers.py INVENTORY [--repeat 5]

Each reader's snippet runs REPEAT times inside one remote shell, timed on the host itself with /proc/uptime
(no process is started to read the clock), so SSH and the network are not counted. Prints milliseconds per
reader and host (the median of the repeats), and the whole facts command's remote time.
"""

import argparse
import statistics
import sys

from lvsdeploy.executor import connect
from lvsdeploy.facts import gather
from lvsdeploy.inventory import load_cluster
from lvsdeploy.plan import facts_request, host_tasks

# uptime in centiseconds with shell builtins only: "12345.67 ..." -> 1234567
CLOCK = 'read -r _up _ < /proc/uptime; _t=${_up%.*}${_up#*.}'


def timed_script(request, repeat: int) -> str:
    snippets = gather._snippets(request)
    parts = [gather.PREAMBLE]
    for name in (*gather.SECTIONS, "all"):
        body = gather.build_command(request) if name == "all" else snippets[name] or ":"
        parts.append(f"{CLOCK}; _s=$_t")
        parts.append(f"for _i in $(seq {repeat}); do\n{body}\ndone >/dev/null 2>&1")
        parts.append(f"{CLOCK}; echo \"{name} $(( (_t - _s) * 10 / {repeat} ))\"")
    return "\n".join(parts) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inventory")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cluster = load_cluster(args.inventory)
    names = sorted(cluster.hosts)
    table: dict[str, dict[str, int]] = {}
    for name in names:
        host = cluster.hosts[name]
        tasks = host_tasks(cluster, host)
        session = connect(host, 30)
        try:
            result = session.run_script(timed_script(facts_request(tasks), args.repeat), timeout=600)
        finally:
            session.close()
        table[name] = {line.split()[0]: int(line.split()[1]) for line in result.stdout.splitlines()
                       if len(line.split()) == 2 and line.split()[1].isdigit()}
    rows = (*gather.SECTIONS, "all")
    print("reader".ljust(10) + "".join(n.rjust(11) for n in names) + "   (ms per run, median of hosts' means)")
    for row in rows:
        values = [table[n].get(row, -1) for n in names]
        print(row.ljust(10) + "".join(str(v).rjust(11) for v in values)
              + f"   {statistics.median(values):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
