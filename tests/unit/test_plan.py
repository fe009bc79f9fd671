"""plan.py: the per-host plan of each example inventory against a fresh host, then against the host that plan
leaves behind (idempotence); what facts are read; the apply script and how its failures are named.

A fresh host is described in fixtures/plan/<mode>.yml with the plan expected for it. The converged host is
not written by hand: `FakeHost` runs the plan's apply script against a copy of the facts, line by line, the
way a Debian host would (the guards first, against its own state; then a tool must be installed before it is
used, a sysctl key exists only once its module is loaded, a unit must be written before it is enabled, and
systemd sees a unit file, an enablement or fstab only after a reload), so that the test also proves the
commands produce the state the modules asked for, and counts the reloads they cost.
"""

import base64
import copy
import functools
import hashlib
import re
import shlex
import subprocess
from ipaddress import IPv4Interface
from pathlib import Path

import pytest
import yaml

from lvsdeploy.engine import _failure_text
from lvsdeploy.executor import EXIT_LOCKED, EXIT_TIMED_OUT, RemoteResult
from lvsdeploy.facts import (
    FileFact, HostFacts, Interface, IpvsDest, IpvsService, IpvsTable, Mount, Route, UnitFact,
)
from lvsdeploy.facts.ipvs import rows_digest, rows_guard
from lvsdeploy.inventory import load_cluster
from lvsdeploy.modules import MODULES, ipvs as ipvs_module
from lvsdeploy.modules.base import (SYSTEMD_FRESH, SYSTEMD_FUNCTIONS, SYSTEMD_OWED, SYSTEMD_SETTLE, SYSTEMD_STALE, Change,
                                    FactsRequest, file_guard)
from lvsdeploy import plan as plan_module
from lvsdeploy import roles as roles_module
from lvsdeploy.plan import APPLY_MARK, EXIT_STALE, HostPlan, PlannedChange, facts_request, host_tasks, plan_host
from lvsdeploy.roles import roles_for

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures" / "plan"
MODES = ("nat", "dr", "tun")
CASES = [(mode, host) for mode in MODES for host in yaml.safe_load((FIXTURES / f"{mode}.yml").read_text())]


# Reading the roles' YAML and compiling every argument's Jinja2 expression again is nearly all of the time
# of a plan (~0.3 s); the tests plan ~100 times. Roles are data and a compiled template is a pure function of
# its source, so both are cached here to keep the unit suite fast.
_roles_for_groups = functools.lru_cache(roles_for)
_native_from_string = functools.lru_cache(maxsize=None)(roles_module.NATIVE.from_string)


@pytest.fixture(autouse=True)
def roles_read_once(monkeypatch):
    monkeypatch.setattr(plan_module, "roles_for", _roles_for_groups)
    monkeypatch.setattr(roles_module.NATIVE, "from_string", _native_from_string)


@functools.lru_cache
def cluster(mode: str):
    return load_cluster(REPO / "inventories" / "examples" / f"{mode}.yml")


@functools.lru_cache
def _fixtures(mode: str) -> dict:
    return yaml.safe_load((FIXTURES / f"{mode}.yml").read_text())


def fixture(mode: str, host: str) -> dict:
    return copy.deepcopy(_fixtures(mode)[host])


# ---- a fresh host ------------------------------------------------------------------------------------

# What a fresh Debian install already has among the files lvsdeploy reads.
FRESH_FILES = {
    "/etc/fstab": FileFact(True, b"UUID=5f3e2d1c-8b7a-4c6d-9e0f-1a2b3c4d5e6f / ext4 errors=remount-ro 0 1\n",
                           "0644", "root", "root", "file"),
}


def fresh_facts(spec: dict, request: FactsRequest) -> HostFacts:
    interfaces = {"lo": Interface("lo", None, True, None, [IPv4Interface("127.0.0.1/8")])}
    routes = []
    for i, (name, addresses) in enumerate(spec["interfaces"].items()):
        addresses = [IPv4Interface(a) for a in addresses]
        interfaces[name] = Interface(name, f"52:54:00:00:00:{i:02x}", True, None, addresses)
        routes += [Route(str(a.network), None, name) for a in addresses]  # the kernel's connected routes
    routes += [Route(r["dst"], r.get("gateway"), r.get("dev")) for r in spec.get("routes", [])]
    # Keys of modules not loaded (net.ipv4.vs.*) and of devices that do not exist yet (tunl0) are absent.
    sysctls = {k: None if (".vs." in k or ".tunl0." in k) else "0" for k in request.sysctls}
    sysctls.update({k: v for k, v in spec.get("sysctls", {}).items() if k in request.sysctls})
    files = {path: FRESH_FILES.get(path, FileFact(exists=False)) for path in request.files}
    return HostFacts(
        hostname="fresh", kernel_release="6.1.0-18-amd64", interfaces=interfaces, routes=routes,
        sysctls=sysctls,
        files=copy.deepcopy(files),
        packages={name: None for name in request.packages},
        units={name: UnitFact("not-found", "", "inactive") for name in request.units},
    )


# ---- a host that runs the apply script --------------------------------------------------------------

# The package a command needs (the fresh host has none of them).
TOOLS = {"ip": "iproute2", "modprobe": "kmod", "sysctl": "procps", "ipvsadm": "ipvsadm", "mount": "nfs-common",
         "exportfs": "nfs-kernel-server"}
IPVS_DEFAULTS = {"net.ipv4.vs.expire_nodest_conn": "0", "net.ipv4.vs.expire_quiescent_template": "0",
                 "net.ipv4.vs.conntrack": "0"}
TUNL0_KEYS = ("arp_ignore", "arp_announce", "rp_filter")

RECORD = "/etc/lvsdeploy/ipvs.managed"   # the director role's ipvs record
IPVS_RULES = "/etc/lvsdeploy/ipvs.rules"  # lvs_ipvs_rules_file's default (roles/director/defaults)
# The last line of the guard block, as an operator reads it on stderr; 76 is plan.EXIT_STALE.
STALE_CHECK = ('if [ -n "$lvs_stale" ]; then echo "lvsdeploy: changed since the plan was made (${lvs_stale#, }); '
               'run plan again" >&2; exit 76; fi')
# What systemd reads only at daemon-reload: lvsdeploy's units, and fstab (for its mount units).
SYSTEMD_READS = ("/etc/systemd/system/", "/etc/fstab")
GUARD_LINE = re.compile(r'(?P<guard>.+) \|\| lvs_stale="\$lvs_stale, "(?P<resource>.+)')


class FakeHost:
    """Just enough of a Debian host to run lvsdeploy's apply script and report facts afterwards."""

    def __init__(self, facts: HostFacts):
        self.facts = copy.deepcopy(facts)
        self.tmp: dict[str, object] = {}
        self.stderr = ""
        # systemd: the files it reads that were written since its last reload, the unit-file states set with
        # --no-reload that it has not read yet, and how often it reloaded. The script's own flag,
        # lvs_systemd_stale, is None until the script sets it.
        self.unread: set[str] = set()
        self.unit_file_states: dict[str, str] = {}
        self.reloads = 0
        self.systemd_stale: bool | None = None
        self.systemd_owed = False
        self.functions_defined = 0

    def run(self, plan: HostPlan) -> HostFacts:
        status = self.run_script(plan.script())
        assert status == 0, self.stderr
        # systemd must not be left with the units and fstab it read before the script wrote them.
        assert not self.unread, f"no daemon-reload after writing {', '.join(sorted(self.unread))}"
        return self.facts

    def run_script(self, script: str) -> int:
        """Run the apply script line by line; its exit status (EXIT_STALE when a guard no longer holds)."""
        stale = None
        for line in script.splitlines():
            if line == "set -eu" or line.startswith("export LC_ALL=C PATH="):
                continue
            if line == "lvs_stale=":
                stale = []
                continue
            guarded = GUARD_LINE.fullmatch(line)
            if guarded:
                assert stale is not None, "a guard before lvs_stale is set"
                (resource,) = shlex.split(guarded["resource"])
                if not self.guard(guarded["guard"]):
                    stale.append(resource)
                continue
            if line == STALE_CHECK:
                if stale:
                    self.stderr = f"lvsdeploy: changed since the plan was made ({', '.join(stale)}); run plan again\n"
                    return EXIT_STALE
                continue
            assert stale == [], f"a command before the guard block was checked: {line}"
            if line.startswith(f"echo {APPLY_MARK} "):
                continue
            self.command(line)
        self.reread_ipvs()
        return 0

    def ipvs_text(self) -> str:
        """What `ipvsadm -Sn` prints here (the fake keeps the table in its canonical order)."""
        return "\n".join(ipvs_module.rules_lines(self.facts.ipvs.services))

    def reread_ipvs(self) -> None:
        """The table's text as reading facts again would give it."""
        if self.facts.ipvs is not None:
            self.facts.ipvs.text = self.ipvs_text()

    def guard(self, guard: str) -> bool:
        """A guard evaluated against this host's state: only the forms modules make."""
        f = self.facts
        absent = re.fullmatch(r"\[ ! -e (\S+) \]", guard)
        if absent:
            (path,) = shlex.split(absent[1])
            return not f.files.get(path, FileFact(False)).exists
        same_file = re.fullmatch(r'\[ "\$\(sha256sum < (.+) \| cut -c1-64\)" = ([0-9a-f]{64}) \]', guard)
        if same_file:
            (path,) = shlex.split(same_file[1])
            fact = f.files.get(path, FileFact(False))
            return fact.exists and fact.content is not None and hashlib.sha256(fact.content).hexdigest() == same_file[2]
        same_rows = re.fullmatch(
            r'\[ "\$\(ipvsadm -Sn 2>&1 \| grep -F (.+) \| sha256sum \| cut -c1-64\)" = ([0-9a-f]{64}) \]', guard)
        if same_rows:
            words = shlex.split(same_rows[1])
            assert words and words[::2] == ["-e"] * (len(words) // 2) and len(words) % 2 == 0, guard
            keys = words[1::2]
            assert guard == rows_guard(keys, same_rows[2]), guard
            return f.ipvs is not None and rows_digest(self.ipvs_text(), keys) == same_rows[2]
        if guard == '[ ! -e /proc/net/ip_vs ] || [ -z "$(ipvsadm -Sn 2>/dev/null)" ]':
            return f.ipvs is None or not f.ipvs.services
        raise AssertionError(f"FakeHost does not know this guard: {guard}")

    def need(self, tool: str) -> None:
        package = TOOLS[tool]
        assert self.facts.packages.get(package), f"{tool} used before {package} is installed"

    def systemd_script(self, line: str) -> bool:
        """The script's own systemd bookkeeping (modules/base.py), as sh runs it
        (test_systemd_functions_in_sh_reload_only_when_needed); False for any other line."""
        if line == SYSTEMD_FUNCTIONS[0]:
            self.systemd_stale, self.systemd_owed = False, False
        elif line in SYSTEMD_FUNCTIONS[1:]:
            self.functions_defined += 1
        elif line in (SYSTEMD_STALE, SYSTEMD_OWED):
            assert self.systemd_stale is not None, "sh: lvs_systemd_stale: parameter not set"
            if line == SYSTEMD_STALE:
                self.systemd_stale = True
            else:
                self.systemd_owed = True
        elif line in (SYSTEMD_FRESH, SYSTEMD_SETTLE):
            assert self.functions_defined == len(SYSTEMD_FUNCTIONS) - 1, f"sh: {line}: not found"
            assert self.systemd_stale is not None, "sh: lvs_systemd_stale: parameter not set"
            # fresh: only what a start or a stop needs (files systemd reads); settle: anything left owed
            if self.systemd_stale or (line == SYSTEMD_SETTLE and self.systemd_owed):
                self.daemon_reload()
                self.systemd_stale, self.systemd_owed = False, False
        else:
            return False
        return True

    def daemon_reload(self) -> None:
        """systemd reads its files again; `systemctl show` (the facts) now reports the unit-file states set
        with --no-reload since the last reload."""
        self.reloads += 1
        self.unread.clear()
        for unit, state in self.unit_file_states.items():
            old = self.facts.units.get(unit) or UnitFact("loaded", "", "inactive")
            self.facts.units[unit] = UnitFact("loaded", state, old.active)
        self.unit_file_states.clear()

    def command(self, command: str) -> None:
        f = self.facts
        if self.systemd_script(command):
            return
        install = re.search(r"apt-get install -y --no-install-recommends ([a-z0-9+. -]+?) \|\|", command)
        if install:
            f.packages.update({name: "1.0" for name in install.group(1).split()})
            return
        if command.startswith("lvs_tmp=$(mktemp "):
            self.tmp = {"mode": "0600", "owner": "root", "group": "root"}
            return
        write = re.fullmatch(r"printf '%s' '([A-Za-z0-9+/=]*)' \| base64 -d > \"\$lvs_tmp\"", command)
        if write:
            self.tmp["content"] = base64.b64decode(write.group(1))
            return
        words = shlex.split(command)
        tool, rest = words[0], words[1:]
        if tool == "mkdir":
            return
        if tool == "chmod" and rest[1] == "$lvs_tmp":
            self.tmp["mode"] = rest[0]
            return
        if tool == "chown" and rest[1] == "$lvs_tmp":
            self.tmp["owner"], self.tmp["group"] = rest[0].split(":")
            return
        if tool == "mv":
            f.files[rest[-1]] = FileFact(True, self.tmp["content"], self.tmp["mode"], self.tmp["owner"],
                                         self.tmp["group"], "file")
            if rest[-1].startswith(SYSTEMD_READS):
                self.unread.add(rest[-1])
            return
        if tool == "systemctl":
            self.systemctl(rest)
            return
        if tool == "sh" and rest[0] == "-c":  # a guarded `command` task; the examples only make directories
            made = re.fullmatch(r"mkdir -p -- '?([^']+)'?", rest[1])
            assert made, command
            f.files[made.group(1)] = FileFact(True, None, "0755", "root", "root", "directory")
            return
        self.need(tool)
        if tool == "modprobe":
            self.modprobe(rest[0])
        elif tool == "sysctl":
            assert rest[:2] == ["-q", "-w"], command
            key, value = rest[2].split("=", 1)
            assert f.sysctls.get(key) is not None, f"sysctl: cannot stat /proc/sys/{key.replace('.', '/')}"
            f.sysctls[key] = value
        elif tool == "ip":
            self.ip(rest)
        elif tool == "ipvsadm":
            self.ipvsadm(rest)
        elif tool == "mount":
            self.mount(rest[0])
        elif tool == "exportfs":
            assert rest == ["-ra"], command
        else:
            raise AssertionError(f"FakeHost does not know this command: {command}")

    def systemctl(self, args: list[str]) -> None:
        f = self.facts
        no_reload = args[0] == "--no-reload"
        verb, unit = args[no_reload], args[-1]
        if verb == "daemon-reload":
            self.daemon_reload()
            return
        # A unit is lvsdeploy's file or a package's (whose postinst reloads systemd); either must be there
        # before it is enabled or started.
        provided = {"nfs-server.service": "nfs-kernel-server"}
        path = f"/etc/systemd/system/{unit}"
        assert f.files.get(path, FileFact(False)).exists or \
            f.packages.get(provided.get(unit, "")), f"Unit {unit} does not exist"
        if verb in ("enable", "disable"):
            # Without --no-reload, systemctl reloads systemd itself: seconds on a slow host, once per unit.
            assert no_reload, f"systemctl {verb} {unit} reloads systemd: the script reloads once, at the end"
            self.unit_file_states[unit] = f"{verb}d"   # the symlinks; systemd reports them after a reload
        elif verb in ("start", "stop"):
            # systemd would run the unit it read at its last reload (and warn that it changed on disk).
            assert path not in self.unread, f"{unit} changed on disk: run 'systemctl daemon-reload' before {verb}"
            old = f.units.get(unit) or UnitFact("loaded", "disabled", "inactive")
            f.units[unit] = UnitFact("loaded", old.enabled, "active" if verb == "start" else "inactive")
        else:
            raise AssertionError(f"FakeHost does not know: systemctl {' '.join(args)}")

    def mount(self, path: str) -> None:
        f = self.facts
        lines = f.files["/etc/fstab"].content.decode().splitlines()
        src, _, fstype, opts = next(line.split()[:4] for line in lines if line.split()[1:2] == [path])
        # NFS negotiates the type (nfs4) and lists its options; flags it was given are among them.
        kept = [o for o in opts.split(",") if o in ("rw", "ro", "hard", "soft") or o.startswith("vers=")]
        f.mounts.append(Mount(src, path, "nfs4" if fstype == "nfs" else fstype,
                              ",".join(kept + ["relatime", "proto=tcp", "timeo=600"])))

    def modprobe(self, name: str) -> None:
        f = self.facts
        if name in f.modules_loaded:   # loading a loaded module changes nothing
            return
        f.modules_loaded.add(name)
        if name == "ip_vs":
            f.ipvs = IpvsTable()
            f.sysctls.update({k: v for k, v in IPVS_DEFAULTS.items() if k in f.sysctls})
        if name == "ipip":  # the fallback tunnel appears, down, with its per-device sysctls
            f.interfaces["tunl0"] = Interface("tunl0", None, False, "ipip", [])
            f.sysctls.update({f"net.ipv4.conf.tunl0.{k}": "0" for k in TUNL0_KEYS
                              if f"net.ipv4.conf.tunl0.{k}" in f.sysctls})

    def ip(self, args: list[str]) -> None:
        f = self.facts
        if args[:2] == ["addr", "replace"]:
            address, dev = IPv4Interface(args[2]), args[args.index("dev") + 1]
            assert dev in f.interfaces, f"Cannot find device {dev}"
            if address not in f.interfaces[dev].addresses:
                f.interfaces[dev].addresses.append(address)
        elif args[:2] == ["addr", "del"]:
            f.interfaces[args[args.index("dev") + 1]].addresses.remove(IPv4Interface(args[2]))
        elif args[:2] == ["link", "set"] and args[3] == "up":
            assert args[2] in f.interfaces, f"Cannot find device {args[2]}"
            f.interfaces[args[2]].up = True
        elif args[:3] == ["route", "replace", "default"]:
            via = args[args.index("via") + 1]
            dev = next(i.name for i in f.interfaces.values() for a in i.addresses
                       if IPv4Interface(f"{via}/32").ip in a.network and i.name != "lo")
            f.routes = [r for r in f.routes if r.dst != "default"] + [Route("default", via, dev)]
        else:
            raise AssertionError(f"FakeHost does not know: ip {' '.join(args)}")

    def ipvsadm(self, args: list[str]) -> None:
        table = self.facts.ipvs
        assert table is not None, "ipvsadm: Can't initialize ipvs (ip_vs not loaded)"
        protocol = {"-t": "TCP", "-u": "UDP"}[args[1]]
        vip, port = args[2].rsplit(":", 1)
        key = (protocol, vip, int(port))
        if args[0] == "-A":
            options = dict(zip(args[3::2], args[4::2]))
            netmask = options.get("-M")
            table.services.append(IpvsService(protocol, vip, int(port), None, options["-s"],
                                              int(options["-p"]) if "-p" in options else None, netmask))
        elif args[0] in ("-a", "-e"):
            service = next(s for s in table.services if s.key == key)
            ip, dport = args[args.index("-r") + 1].rsplit(":", 1)
            method = {"-g": "route", "-m": "masq", "-i": "tunnel"}[next(a for a in args if a in ("-g", "-m", "-i"))]
            dest = IpvsDest(ip, int(dport), int(args[args.index("-w") + 1]), method)
            found = [i for i, d in enumerate(service.destinations) if (d.ip, d.port) == (dest.ip, dest.port)]
            assert bool(found) == (args[0] == "-e"), f"ipvsadm would refuse: ipvsadm {' '.join(args)}"
            if found:
                service.destinations[found[0]] = dest
            else:
                service.destinations.append(dest)
        else:
            raise AssertionError(f"FakeHost does not know: ipvsadm {' '.join(args)}")


def fresh(mode: str, name: str):
    c = cluster(mode)
    host = c.hosts[name]
    return c, host, fresh_facts(fixture(mode, name), facts_request(host_tasks(c, host)))


# ---- the plan against a fresh host ------------------------------------------------------------------

@pytest.mark.parametrize("mode,name", CASES)
def test_fresh_host_gets_the_expected_resources_in_order(mode, name):
    c, host, facts = fresh(mode, name)
    plan = plan_host(host_tasks(c, host), facts)
    assert plan.error is None
    assert [p.change.resource for p in plan.changes] == fixture(mode, name)["resources"]
    assert [n for n, _ in plan.handlers] == fixture(mode, name)["handlers"]


@pytest.mark.parametrize("mode,name", CASES)
def test_converged_host_has_an_empty_plan(mode, name):
    c, host, facts = fresh(mode, name)
    target = FakeHost(facts)
    converged = target.run(plan_host(host_tasks(c, host), facts))
    # Each reload costs seconds on a slow host: a fresh director or real server needs one, after its last change
    # (the fixtures' `reloads`).
    assert target.reloads == fixture(mode, name)["reloads"]
    again = plan_host(host_tasks(c, host), converged)
    assert again.error is None
    assert [p.change.resource for p in again.changes] == []
    assert again.handlers == []


def without_line(script: str, line: str, before: str) -> str:
    """The script with the one `line` that comes right before the line `before` taken out."""
    lines = script.splitlines()
    i = lines.index(before)
    assert lines[i - 1] == line
    return "\n".join(lines[:i - 1] + lines[i:]) + "\n"


def test_the_fake_host_needs_the_final_reload_to_converge():
    # Without the script's last refresh, systemd never reads the boot units nor their enablement: the facts
    # still say "not enabled", so the next plan enables them again.
    c, host, facts = fresh("dr", "director1")
    target = FakeHost(facts)
    assert target.run_script(without_line(plan_host(host_tasks(c, host), facts).script(), SYSTEMD_SETTLE,
                                          f"echo {APPLY_MARK} done")) == 0
    assert target.reloads == 0
    assert target.unread == {"/etc/systemd/system/lvsdeploy-network.service",
                             "/etc/systemd/system/lvsdeploy-ipvs.service"}
    again = plan_host(host_tasks(c, host), target.facts)
    assert [p.change.resource for p in again.changes] == ["service lvsdeploy-network.service",
                                                          "service lvsdeploy-ipvs.service"]


def test_a_unit_written_then_started_is_reloaded_between_once():
    # The file and service modules as a role would chain them: the start waits for one reload, the final
    # refresh has nothing left to do.
    unit = "/etc/systemd/system/lvsdeploy-demo.service"
    facts = HostFacts(files={unit: FileFact(False)},
                      units={"lvsdeploy-demo.service": UnitFact("not-found", "", "inactive")})
    changes = [*MODULES["file"].plan({"path": unit, "content": "[Service]\nExecStart=/bin/true\n"}, facts),
               *MODULES["service"].plan({"name": "lvsdeploy-demo.service", "state": "started"}, facts)]
    plan = HostPlan("rs1", [PlannedChange("demo", change) for change in changes])
    target = FakeHost(facts)
    assert target.run(plan).units["lvsdeploy-demo.service"].active == "active"
    assert target.reloads == 1
    # A unit file that did not mark systemd stale: systemd would start the unit it read before.
    with pytest.raises(AssertionError, match="lvsdeploy-demo.service changed on disk"):
        FakeHost(facts).run_script(without_line(plan.script(), SYSTEMD_STALE, f"echo {APPLY_MARK} 1"))


def test_an_fstab_line_restored_alone_costs_one_reload():
    # The share is still mounted; only its fstab line was lost. mount(8) needs no reload, but systemd must read
    # the new fstab by the end of the script.
    c, host, facts = fresh("dr", "rs1")
    converged = FakeHost(facts).run(plan_host(host_tasks(c, host), facts))
    converged.files["/etc/fstab"] = copy.deepcopy(FRESH_FILES["/etc/fstab"])
    plan = plan_host(host_tasks(c, host), converged)
    assert [p.change.resource for p in plan.changes] == ["file /etc/fstab"]
    target = FakeHost(converged)
    assert plan_host(host_tasks(c, host), target.run(plan)).changes == []
    assert target.reloads == 1
    # An fstab write that did not mark systemd stale leaves it with the old fstab.
    unmarked = FakeHost(converged)
    assert unmarked.run_script(without_line(plan.script(), SYSTEMD_STALE, f"echo {APPLY_MARK} systemd")) == 0
    assert (unmarked.reloads, unmarked.unread) == (0, {"/etc/fstab"})


def test_dr_realserver_fixes_arp_before_the_vip_appears():
    c, host, facts = fresh("dr", "rs1")
    resources = [p.change.resource for p in plan_host(host_tasks(c, host), facts).changes]
    vip = resources.index("address 10.20.0.10/32 dev lo")
    arp = [i for i, r in enumerate(resources) if r.startswith("sysctl net.ipv4.conf.") and "arp_" in r]
    assert len(arp) == 4 and max(arp) < vip


def test_tun_realserver_loads_ipip_and_fixes_tunl0_before_the_vip():
    c, host, facts = fresh("tun", "rs1")
    plan = plan_host(host_tasks(c, host), facts)
    changes = {p.change.resource: p.change for p in plan.changes}
    resources = list(changes)
    assert resources.index("kernel module ipip") < resources.index("sysctl net.ipv4.conf.tunl0.arp_ignore")
    assert resources.index("sysctl net.ipv4.conf.tunl0.rp_filter") < resources.index("link tunl0")
    assert resources.index("link tunl0") < resources.index("address 10.30.1.10/32 dev tunl0")
    assert changes["sysctl net.ipv4.conf.tunl0.rp_filter"].diff == ("- <absent>", "+ 0")
    assert changes["sysctl net.ipv4.conf.all.rp_filter"].diff == ("- 1", "+ 0")
    # ipip is not loaded when the plan is made: the link task loads it too (a no-op after the module task)
    assert changes["link tunl0"].commands == ("modprobe ipip", "ip link set tunl0 up")


def test_nat_director_and_realserver_commands():
    c, director, facts = fresh("nat", "director1")
    changes = {p.change.resource: p.change for p in plan_host(host_tasks(c, director), facts).changes}
    assert changes["sysctl net.ipv4.ip_forward"].commands == ("sysctl -q -w net.ipv4.ip_forward=1",)
    assert changes["address 192.168.100.10/32 dev eth0"].commands == ("ip addr replace 192.168.100.10/32 dev eth0",)
    assert changes["ipvs TCP 192.168.100.10:80"].commands == (
        "ipvsadm -A -t 192.168.100.10:80 -s wlc",
        "ipvsadm -a -t 192.168.100.10:80 -r 10.10.0.11:8080 -m -w 1",
        "ipvsadm -a -t 192.168.100.10:80 -r 10.10.0.12:8080 -m -w 1",
    )
    assert changes["ipvs TCP 192.168.100.10:443"].commands[0] == "ipvsadm -A -t 192.168.100.10:443 -s sh -p 600"
    c, rs, facts = fresh("nat", "rs1")
    changes = {p.change.resource: p.change for p in plan_host(host_tasks(c, rs), facts).changes}
    assert changes["route default"].diff == ("+ default via 10.10.0.1",)
    assert changes["route default"].commands == ("ip route replace default via 10.10.0.1",)


def test_fullnat_director_with_ipvs_tuning_sets_it_all_before_the_table(tmp_path):
    """The NAT example with its services in fullnat mode and lvs_ipvs set, planned for a fresh director."""
    data = yaml.safe_load((REPO / "inventories" / "examples" / "nat.yml").read_text())
    for svc in data["all"]["vars"]["lvs_virtual_services"]:
        svc["mode"] = "fullnat"
    data["all"]["vars"]["lvs_ipvs"] = {"timeouts": {"tcp": 900, "tcpfin": 60}, "sysctls": {"schedule_icmp": 1}}
    (tmp_path / "fullnat.yml").write_text(yaml.safe_dump(data))
    c = load_cluster(tmp_path / "fullnat.yml")
    director = c.hosts["director1"]
    facts = fresh_facts(fixture("nat", "director1"), facts_request(host_tasks(c, director)))
    plan = plan_host(host_tasks(c, director), facts)
    assert plan.error is None
    resources = [p.change.resource for p in plan.changes]
    changes = {p.change.resource: p.change for p in plan.changes}
    assert changes["ipvs timeouts"].commands == ("ipvsadm --set 900 60 0",)   # udp: left as it is
    assert changes["sysctl net.ipv4.vs.schedule_icmp"].commands == ("sysctl -q -w net.ipv4.vs.schedule_icmp=1",)
    assert changes["sysctl net.ipv4.vs.conntrack"].diff[-1] == "+ 1"
    # ip_vs first; the source NAT before any service is forwarded
    assert resources.index("kernel module ip_vs") < resources.index("ipvs timeouts")
    assert (resources.index("netfilter nat chain LVSDEPLOY-FULLNAT")
            < resources.index("netfilter nat POSTROUTING jump to LVSDEPLOY-FULLNAT")
            < resources.index("ipvs TCP 192.168.100.10:80"))
    boot = next(p.change for p in plan.changes if p.change.resource.endswith("/usr/local/sbin/lvsdeploy-network"))
    assert any("+ipvsadm --set 900 60 0" == line for line in boot.diff)
    assert any(line.startswith("+printf") and "iptables-restore" in line for line in boot.diff)


def test_boot_files_persist_what_the_roles_set():
    c, host, facts = fresh("tun", "rs1")
    converged = FakeHost(facts).run(plan_host(host_tasks(c, host), facts))
    text = lambda path: converged.files[path].content.decode()  # noqa: E731
    assert "\nipip\n" in text("/etc/modules-load.d/lvsdeploy.conf")
    sysctl_conf = text("/etc/sysctl.d/90-lvsdeploy.conf")
    assert "net.ipv4.conf.tunl0.rp_filter = 0\n" in sysctl_conf
    assert "net.ipv4.conf.all.arp_ignore = 1\n" in sysctl_conf
    # The boot script re-creates links and addresses with the devices resolved from facts, in role order.
    script = text("/usr/local/sbin/lvsdeploy-network")
    assert script.splitlines()[-4:] == [
        "ip addr replace 10.30.2.11/24 dev eth0", "modprobe ipip", "ip link set tunl0 up",
        "ip addr replace 10.30.1.10/32 dev tunl0"]
    assert converged.files["/usr/local/sbin/lvsdeploy-network"].mode == "0755"
    subprocess.run(["sh", "-n"], input=script, text=True, check=True)


def test_director_boot_rules_restore_the_planned_table():
    c, host, facts = fresh("dr", "director1")
    converged = FakeHost(facts).run(plan_host(host_tasks(c, host), facts))
    assert converged.files["/etc/lvsdeploy/ipvs.rules"].content.decode() == (
        "-A -t 10.20.0.10:80 -s rr\n"
        "-a -t 10.20.0.10:80 -r 10.20.0.11:80 -g -w 1\n"
        "-a -t 10.20.0.10:80 -r 10.20.0.12:80 -g -w 1\n"
        "-A -u 10.20.0.10:53 -s wrr\n"
        "-a -u 10.20.0.10:53 -r 10.20.0.11:53 -g -w 2\n"
        "-a -u 10.20.0.10:53 -r 10.20.0.12:53 -g -w 1\n"
    )
    unit = converged.files["/etc/systemd/system/lvsdeploy-ipvs.service"].content.decode()
    assert "ExecStart=/bin/sh -c 'ipvsadm -R < /etc/lvsdeploy/ipvs.rules'" in unit


def test_handler_is_notified_only_when_its_task_changes():
    c, host, facts = fresh("dr", "storage1")
    plan = plan_host(host_tasks(c, host), facts)
    assert plan.handlers == [("reload exports", "exportfs -ra")]
    converged = FakeHost(facts).run(plan)
    # Only a file that does not notify changes: no handler.
    converged.files["/etc/lvsdeploy/README"] = FileFact(True, b"old\n", "0644", "root", "root", "file")
    plan = plan_host(host_tasks(c, host), converged)
    assert [p.change.resource for p in plan.changes] == ["file /etc/lvsdeploy/README"]
    assert plan.handlers == []
    # The exports file changes: the handler is back.
    converged.files["/etc/exports.d/lvsdeploy.exports"].content += b"# edited\n"
    assert plan_host(host_tasks(c, host), converged).handlers == [("reload exports", "exportfs -ra")]


def test_a_unit_file_edited_by_hand_is_rewritten_and_reloaded_without_a_handler():
    c, host, facts = fresh("dr", "director1")
    converged = FakeHost(facts).run(plan_host(host_tasks(c, host), facts))
    converged.files["/etc/systemd/system/lvsdeploy-network.service"].content += b"# edited\n"
    plan = plan_host(host_tasks(c, host), converged)
    assert [p.change.resource for p in plan.changes] == ["file /etc/systemd/system/lvsdeploy-network.service"]
    assert plan.handlers == []
    target = FakeHost(converged)
    assert plan_host(host_tasks(c, host), target.run(plan)).changes == []
    assert target.reloads == 1


def test_partly_converged_host_plans_only_the_difference():
    c, host, facts = fresh("dr", "rs1")
    converged = FakeHost(facts).run(plan_host(host_tasks(c, host), facts))
    converged.sysctls["net.ipv4.conf.lo.arp_announce"] = "0"
    converged.interfaces["lo"].addresses.remove(IPv4Interface("10.20.0.10/32"))
    plan = plan_host(host_tasks(c, host), converged)
    assert [(p.task, p.change.resource) for p in plan.changes] == [
        ("realserver: real-server sysctls (ARP, rp_filter) (net.ipv4.conf.lo.arp_announce)",
         "sysctl net.ipv4.conf.lo.arp_announce"),
        ("realserver: VIPs held without answering ARP (10.20.0.10/32 lo)", "address 10.20.0.10/32 dev lo"),
    ]


def test_module_error_becomes_the_plan_error_naming_the_task():
    c, host, facts = fresh("dr", "director1")
    facts.interfaces.pop("eth0")  # nothing holds the DR subnet: the VIP cannot be placed
    plan = plan_host(host_tasks(c, host), facts)
    assert plan.error is not None
    assert plan.error.startswith("director: director IP (DIP): ip_address: cannot place 10.20.0.2/24")
    assert "lvs_dip_interface" in plan.error


# ---- facts_request -------------------------------------------------------------------------------------

class Reads(dict):
    """A dict that remembers every key looked up."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read: set = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


# The health checkers' units: a director's ipvs task asks for them always, and reads them only when its record
# says a checker kept services until now (a handover stops that checker first).
CHECKER_UNITS = {"keepalived.service", "ldirectord.service"}


def reading(facts: HostFacts) -> HostFacts:
    facts.files, facts.sysctls = Reads(facts.files), Reads(facts.sysctls)
    facts.packages, facts.units = Reads(facts.packages), Reads(facts.units)
    return facts


@pytest.mark.parametrize("mode,name", CASES)
def test_facts_request_covers_everything_plan_host_reads(mode, name):
    c, host, facts = fresh(mode, name)
    request = facts_request(host_tasks(c, host))
    facts = reading(facts)
    plan = plan_host(host_tasks(c, host), facts)
    assert plan.error is None
    assert facts.files.read == request.files
    assert facts.sysctls.read == request.sysctls
    assert facts.packages.read == request.packages
    # a fresh host has no record: no checker kept anything, so only the checkers' units go unread
    assert facts.units.read == request.units - (CHECKER_UNITS if host.is_director else set())
    assert (CHECKER_UNITS <= request.units) == host.is_director


@pytest.mark.parametrize("mode", MODES)
def test_facts_request_covers_the_checker_units_a_handover_reads(mode):
    # A record that says keepalived keeps the inventory's services and ldirectord one that is gone from the table:
    # going back to none stops both, so plan reads both units (and nothing the request did not ask for).
    c, host, facts = fresh(mode, "director1")
    request = facts_request(host_tasks(c, host))
    labels = sorted(s.label for t in host_tasks(c, host).tasks if t.module == "ipvs" for s in t.args["services"])
    assert labels
    lines = [f"{label} keepalived" for label in labels] + ["TCP 192.0.2.1:9 ldirectord"]
    facts.files[RECORD] = FileFact(True, (ipvs_module.RECORD_HEADER + "".join(f"{line}\n" for line in lines)).encode(),
                                   "0644", "root", "root", "file")
    facts.units.update({unit: UnitFact("loaded", "enabled", "active") for unit in CHECKER_UNITS})
    facts = reading(facts)
    plan = plan_host(host_tasks(c, host), facts)
    assert plan.error is None
    assert facts.units.read == request.units
    resources = [p.change.resource for p in plan.changes]
    assert {"service keepalived.service", "service ldirectord.service"} <= set(resources)


def test_facts_request_of_a_dr_realserver():
    c = cluster("dr")
    assert facts_request(host_tasks(c, c.hosts["rs1"])) == FactsRequest(
        sysctls={f"net.ipv4.conf.{i}.{k}" for i in ("all", "lo") for k in ("arp_ignore", "arp_announce")},
        files={"/etc/lvsdeploy/README", "/etc/fstab", "/etc/modules-load.d/lvsdeploy.conf",
               "/etc/sysctl.d/90-lvsdeploy.conf", "/usr/local/sbin/lvsdeploy-network",
               "/etc/systemd/system/lvsdeploy-network.service",
               # a cluster stack lvsdeploy set up for a share that left is taken away (cluster_stack_cleanup)
               "/etc/corosync/corosync.conf", "/etc/corosync/authkey", "/etc/dlm/dlm.conf",
               "/etc/ocfs2/cluster.conf", "/etc/default/o2cb"},
        packages={"iproute2", "kmod", "procps", "nfs-common"},
        units={"lvsdeploy-network.service"},
    )


def test_facts_request_of_a_director_adds_ipvs_files_units_and_sysctls():
    c = cluster("nat")
    request = facts_request(host_tasks(c, c.hosts["director1"]))
    assert {"/etc/lvsdeploy/ipvs.rules", "/etc/systemd/system/lvsdeploy-ipvs.service", RECORD} <= request.files
    # the checkers' units too: a handover from one stops it (lvs_health_checker none here: no checker package)
    assert request.units == {"lvsdeploy-ipvs.service", "lvsdeploy-network.service", "keepalived.service",
                             "ldirectord.service"}
    assert request.packages == {"iproute2", "kmod", "procps", "ipvsadm"}
    assert request.sysctls == {"net.ipv4.ip_forward", "net.ipv4.vs.conntrack", "net.ipv4.vs.expire_nodest_conn",
                               "net.ipv4.vs.expire_quiescent_template"}


def test_facts_request_of_a_client_is_empty():
    c = cluster("dr")
    assert facts_request(host_tasks(c, c.hosts["client1"])) == FactsRequest()


# ---- the apply script ---------------------------------------------------------------------------------

def guard_block(script: str) -> list[str]:
    """The lines between `lvs_stale=` and the stale check, which must come before any change's marker."""
    lines = script.splitlines()
    assert lines[2] == "lvs_stale="
    end = lines.index(STALE_CHECK)
    assert not any(line.startswith(f"echo {APPLY_MARK}") for line in lines[:end])
    return lines[3:end]


@pytest.mark.parametrize("mode,name", [(m, n) for m, n in CASES if n in ("director1", "rs1")])
def test_script_is_valid_sh_with_every_command_in_order(mode, name):
    c, host, facts = fresh(mode, name)
    plan = plan_host(host_tasks(c, host), facts)
    script = plan.script()
    subprocess.run(["sh", "-n"], input=script, text=True, check=True)
    lines = script.splitlines()
    assert lines[0] == "set -eu"
    # First the guards: each (resource, guard) once, checked before anything runs.
    guards = {f'{guard} || lvs_stale="$lvs_stale, "{shlex.quote(p.change.resource)}'
              for p in plan.changes for guard in p.change.guards}
    block = guard_block(script)
    assert len(block) == len(set(block)) and set(block) == guards
    # Every file written and every IPVS edit is guarded (the files a fresh host lacks: "still absent").
    for p in plan.changes:
        if p.change.resource.startswith(("file ", "ipvs ")):
            assert p.change.guards, p.change.resource
    expected = list(SYSTEMD_FUNCTIONS)
    for i, planned in enumerate(plan.changes):
        expected += [f"echo {APPLY_MARK} {i}", *planned.change.commands]
    # systemd reloaded once more if a change left it stale, before the handlers and the read-back look at it
    expected += [f"echo {APPLY_MARK} systemd", SYSTEMD_SETTLE]
    for name_, command in plan.handlers:
        expected += [f"echo {APPLY_MARK} handler {shlex.quote(name_)}", command]
    expected.append(f"echo {APPLY_MARK} done")
    assert lines[lines.index(STALE_CHECK) + 1:] == expected


def test_director_guards_on_a_fresh_host():
    c, host, facts = fresh("dr", "director1")
    changes = {p.change.resource: p.change for p in plan_host(host_tasks(c, host), facts).changes}
    assert changes[f"file {RECORD}"].guards == (f"[ ! -e {RECORD} ]",)
    # ip_vs is not loaded when the plan is made: the table must still be empty when the script starts.
    not_loaded = '[ ! -e /proc/net/ip_vs ] || [ -z "$(ipvsadm -Sn 2>/dev/null)" ]'
    assert changes["ipvs TCP 10.20.0.10:80"].guards == changes["ipvs UDP 10.20.0.10:53"].guards == (not_loaded,)
    # fstab is rewritten from the content the plan saw.
    c, host, facts = fresh("dr", "rs1")
    changes = {p.change.resource: p.change for p in plan_host(host_tasks(c, host), facts).changes}
    digest = hashlib.sha256(FRESH_FILES["/etc/fstab"].content).hexdigest()
    assert changes["file /etc/fstab"].guards == (f'[ "$(sha256sum < /etc/fstab | cut -c1-64)" = {digest} ]',)


def test_script_of_an_empty_plan_only_reports_done():
    script = HostPlan("rs1").script()
    # Nothing changed, nothing to reload: the functions are defined, never called.
    assert script.splitlines()[2:] == ["lvs_stale=", STALE_CHECK, *SYSTEMD_FUNCTIONS, f"echo {APPLY_MARK} done"]
    subprocess.run(["sh", "-n"], input=script, text=True, check=True)
    result = run_sh(script)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"{APPLY_MARK} done\n", "")


def test_a_host_changed_since_the_plan_runs_nothing():
    # The FakeHost checks the guards against its own state: a file written by someone else since the facts
    # were read stops the whole script before its first command.
    c, host, facts = fresh("dr", "director1")
    plan = plan_host(host_tasks(c, host), facts)
    target = FakeHost(facts)
    target.facts.files["/etc/lvsdeploy/README"] = FileFact(True, b"mine\n", "0644", "root", "root", "file")
    before = copy.deepcopy(target.facts)
    assert target.run_script(plan.script()) == EXIT_STALE
    assert target.stderr == ("lvsdeploy: changed since the plan was made (file /etc/lvsdeploy/README); "
                             "run plan again\n")
    assert target.facts == before   # nothing ran: no package installed, no module loaded


def test_an_ipvs_table_edited_since_the_plan_runs_nothing():
    c, host, facts = fresh("dr", "director1")
    converged = FakeHost(facts).run(plan_host(host_tasks(c, host), facts))
    # A weight changed by hand: lvsdeploy plans to set it back, against the table it read.
    service = next(s for s in converged.ipvs.services if s.label == "TCP 10.20.0.10:80")
    service.destinations[0] = IpvsDest(service.destinations[0].ip, 80, 5, "route")
    host_now = FakeHost(converged)
    host_now.reread_ipvs()
    plan = plan_host(host_tasks(c, host), host_now.facts)
    assert [p.change.resource for p in plan.changes] == ["ipvs TCP 10.20.0.10:80"]
    (guard,) = plan.changes[0].change.guards
    # Every service in the table is lvsdeploy's here: the guard hashes the rows of each of them.
    keys = sorted({f" {ipvs_module.service_switch(s)} " for s in host_now.facts.ipvs.services})
    assert guard == rows_guard(keys, rows_digest(host_now.facts.ipvs.text, keys))
    # Unchanged since: the plan applies. Another tool's service added meanwhile: it still applies.
    assert FakeHost(host_now.facts).run_script(plan.script()) == 0
    foreign = FakeHost(host_now.facts)
    foreign.facts.ipvs.services.append(IpvsService("TCP", "10.20.0.10", 8443, None, "rr"))
    assert foreign.run_script(plan.script()) == 0
    # One of ours changed again before the apply (its weight edited by hand once more): stale.
    edited = FakeHost(host_now.facts)
    service = next(s for s in edited.facts.ipvs.services if s.label == "TCP 10.20.0.10:80")
    service.destinations[0] = IpvsDest(service.destinations[0].ip, 80, 7, "route")
    assert edited.run_script(plan.script()) == EXIT_STALE
    assert "(ipvs TCP 10.20.0.10:80)" in edited.stderr


def guarded_file_plan(tmp_path: Path) -> tuple[HostPlan, Path, Path, Path]:
    """Two file changes guarded as the file module guards them, against real files in tmp_path."""
    conf, new, ran = tmp_path / "my conf", tmp_path / "new", tmp_path / "ran"
    conf.write_bytes(b"old\n")
    seen = FileFact(True, b"old\n", "0644", "root", "root", "file")
    plan = HostPlan("rs1", [
        PlannedChange("demo: conf", Change(f"file {conf}", ("-old", "+new"),
                                           (f"echo new > {shlex.quote(str(conf))}", f"touch {shlex.quote(str(ran))}"),
                                           guards=file_guard(str(conf), seen))),
        PlannedChange("demo: new", Change(f"file {new}", ("+ file",), (f"touch {shlex.quote(str(new))}",),
                                          guards=file_guard(str(new), FileFact(False)))),
    ], [("reload systemd", f"touch {shlex.quote(str(ran))}")])
    return plan, conf, new, ran


def test_guard_block_in_sh_stops_a_stale_script_before_any_command(tmp_path):
    # The real thing: HostPlan.script() in sh, against files changed since the facts were read.
    plan, conf, new, ran = guarded_file_plan(tmp_path)
    script = plan.script()
    conf.write_bytes(b"edited by hand\n")
    result = run_sh(script)
    assert result.returncode == EXIT_STALE == 76
    assert result.stdout == ""   # not even the first marker
    assert result.stderr == f"lvsdeploy: changed since the plan was made (file {conf}); run plan again\n"
    assert conf.read_bytes() == b"edited by hand\n" and not new.exists() and not ran.exists()
    # Every stale resource is named, not only the first.
    new.write_bytes(b"")
    result = run_sh(script)
    assert result.returncode == EXIT_STALE
    assert result.stderr == f"lvsdeploy: changed since the plan was made (file {conf}, file {new}); run plan again\n"
    assert not ran.exists()
    assert _failure_text(plan, remote(result)) == (
        f"rs1: nothing was changed: changed since the plan was made (file {conf}, file {new}); run plan again")


def test_guard_block_in_sh_lets_an_unchanged_host_through(tmp_path):
    plan, conf, new, ran = guarded_file_plan(tmp_path)
    result = run_sh(plan.script())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{APPLY_MARK} 0", f"{APPLY_MARK} 1", f"{APPLY_MARK} systemd",
                                          f"{APPLY_MARK} handler reload systemd", f"{APPLY_MARK} done"]
    assert conf.read_bytes() == b"new\n" and new.exists() and ran.exists()
    # A file that could not be read has no guard (there is nothing to compare): it does not block.
    assert file_guard(str(conf), FileFact(True, None, "0600", "root", "root", "file")) == ()


def two_change_plan() -> HostPlan:
    return HostPlan("rs1", [
        PlannedChange("realserver: sysctls (net.ipv4.conf.all.arp_ignore)",
                      Change("sysctl net.ipv4.conf.all.arp_ignore", ("- 0", "+ 1"), ("echo arp ok",))),
        PlannedChange("realserver: VIPs on the loopback (DR) (10.20.0.10)",
                      Change("address 10.20.0.10/32 dev lo", ("+ 10.20.0.10/32 dev lo",),
                             ("echo RTNETLINK answers: Operation not permitted >&2", "exit 2"))),
    ], [("reload systemd", "echo reloading")])


def run_sh(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh"], input=script, text=True, capture_output=True)


def remote(result: subprocess.CompletedProcess) -> RemoteResult:
    return RemoteResult(result.returncode, result.stdout, result.stderr)


def test_failure_text_names_the_failing_change_from_the_markers():
    plan = two_change_plan()
    result = run_sh(plan.script())
    assert result.returncode == 2
    text = _failure_text(plan, remote(result))
    assert text.startswith("rs1: failed at change address 10.20.0.10/32 dev lo "
                           "(realserver: VIPs on the loopback (DR) (10.20.0.10)):")
    assert "RTNETLINK answers: Operation not permitted" in text
    assert "arp ok" in text and APPLY_MARK not in text
    assert "reloading" not in text  # set -e stopped the script: the handler did not run


def test_failure_text_names_a_failing_handler():
    plan = two_change_plan()
    plan.changes.pop()
    plan.handlers = [("reload systemd", "echo 'Failed to reload daemon' >&2; false")]
    result = run_sh(plan.script())
    assert result.returncode != 0
    text = _failure_text(plan, remote(result))
    assert text.startswith("rs1: failed at handler reload systemd:")
    assert "Failed to reload daemon" in text


def test_failure_text_names_the_reload_after_the_last_change():
    plan = two_change_plan()
    stdout = f"{APPLY_MARK} 0\narp ok\n{APPLY_MARK} 1\n{APPLY_MARK} systemd\n"
    text = _failure_text(plan, RemoteResult(1, stdout, "Failed to reload daemon: Connection timed out\n"))
    assert text == ("rs1: failed at the reload of systemd after the last change (systemctl daemon-reload):\n"
                    "arp ok\nFailed to reload daemon: Connection timed out")


def test_systemd_functions_in_sh_reload_only_when_needed(tmp_path):
    # What FakeHost assumes of the script's functions, in the real sh: fresh reloads only when a change marked
    # systemd stale since the last reload; settle also when an enablement left one owed; a reload clears both;
    # only on a host that runs systemd (here a temp dir stands for /run/systemd/system); a failing reload
    # stops the script.
    booted = tmp_path / "systemd"
    booted.mkdir()
    functions = [line.replace("/run/systemd/system", str(booted)) for line in SYSTEMD_FUNCTIONS]
    assert functions != list(SYSTEMD_FUNCTIONS)
    steps = [SYSTEMD_FRESH, SYSTEMD_SETTLE, "echo nothing edited",
             SYSTEMD_STALE, SYSTEMD_STALE, SYSTEMD_FRESH, "echo two edits",
             SYSTEMD_FRESH, "echo nothing since",
             SYSTEMD_OWED, SYSTEMD_FRESH, "echo an enablement is no reason to reload before a start",
             SYSTEMD_SETTLE, "echo settled", SYSTEMD_SETTLE, "echo nothing left",
             SYSTEMD_STALE, f"rmdir {booted}", SYSTEMD_SETTLE, 'echo "no systemd, stale=$lvs_systemd_stale."']
    fake = 'systemctl() { echo "systemctl $*"; }'   # a function comes before PATH: nothing real reloads
    result = run_sh("\n".join(["set -eu", fake, *functions, *steps]))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == ["nothing edited", "systemctl daemon-reload", "two edits",
                                          "nothing since", "an enablement is no reason to reload before a start",
                                          "systemctl daemon-reload", "settled", "nothing left",
                                          "no systemd, stale=."]
    booted.mkdir()
    failing = 'systemctl() { echo "Failed to reload daemon" >&2; return 1; }'
    result = run_sh("\n".join(["set -eu", failing, *functions, SYSTEMD_STALE, SYSTEMD_FRESH, "echo not reached"]))
    assert (result.returncode, result.stdout) == (1, "")


def test_failure_text_before_the_first_change():
    text = _failure_text(two_change_plan(), RemoteResult(1, "", "sudo: a password is required\n"))
    assert text == "rs1: failed at before the first change:\nsudo: a password is required"


def test_failure_text_after_the_done_marker_does_not_crash():
    plan = two_change_plan()
    text = _failure_text(plan, RemoteResult(1, f"{APPLY_MARK} 0\narp ok\n{APPLY_MARK} 1\n{APPLY_MARK} done\n", ""))
    assert text.startswith("rs1: failed at ")


def test_failure_text_when_another_apply_holds_the_host():
    # Exit 75 from the apply wrapper: the lock was not free in time; the script never started.
    holder = "lvsdeploy pid 4242 of ops@laptop since 2024-05-01 10:00:00 UTC"
    result = RemoteResult(EXIT_LOCKED, "", f"lvsdeploy: another apply holds this host: {holder}\n")
    assert EXIT_LOCKED == 75
    assert _failure_text(two_change_plan(), result) == (
        f"rs1: not applied: another apply holds this host: {holder} (waited for the host's lock)")


def test_failure_text_when_the_plan_is_stale():
    stderr = "lvsdeploy: changed since the plan was made (file /etc/fstab, ipvs TCP 10.20.0.10:80); run plan again\n"
    text = _failure_text(two_change_plan(), RemoteResult(EXIT_STALE, "", stderr))
    assert text == ("rs1: nothing was changed: changed since the plan was made "
                    "(file /etc/fstab, ipvs TCP 10.20.0.10:80); run plan again")


def test_failure_text_when_the_time_limit_ended_the_script():
    plan = two_change_plan()
    stdout = f"{APPLY_MARK} 0\narp ok\n{APPLY_MARK} 1\n"
    said = "lvsdeploy: the apply script ran past its time limit of 1800 s and was ended\n"
    text = _failure_text(plan, RemoteResult(EXIT_TIMED_OUT, stdout, said))
    assert text.startswith("rs1: ended by the time limit during change address 10.20.0.10/32 dev lo ")
    # A command of the script that itself exits 124 (timeout(1)) is an ordinary failure.
    text = _failure_text(plan, RemoteResult(EXIT_TIMED_OUT, stdout, "timeout: sending signal TERM\n"))
    assert text.startswith("rs1: failed at change address 10.20.0.10/32 dev lo ")


# ---- the ownership of IPVS services, across the whole plan --------------------------------------------------

def converged_director(mode: str = "dr"):
    c, host, facts = fresh(mode, "director1")
    host_now = FakeHost(facts)
    host_now.run(plan_host(host_tasks(c, host), facts))
    return c, host, host_now


def test_director_record_lists_the_services_it_made():
    c, host, host_now = converged_director()
    assert host_now.facts.files[RECORD].content.decode().splitlines()[1:] == [
        "TCP 10.20.0.10:80", "UDP 10.20.0.10:53"]
    assert host_now.facts.files[RECORD].content.startswith(b"# Managed by lvsdeploy")


def test_a_foreign_ipvs_service_is_left_alone_and_noted():
    c, host, host_now = converged_director()
    host_now.facts.ipvs.services.append(IpvsService("TCP", "10.20.0.10", 8443, None, "rr"))
    host_now.reread_ipvs()
    plan = plan_host(host_tasks(c, host), host_now.facts)
    assert plan.error is None and plan.changes == []
    assert plan.notes == ["ipvs TCP 10.20.0.10:8443: not managed by lvsdeploy, left alone"]


def test_a_wanted_ipvs_service_someone_else_made_fails_the_plan():
    c, host, facts = fresh("dr", "director1")
    facts.modules_loaded.add("ip_vs")
    facts.ipvs = IpvsTable([IpvsService("UDP", "10.20.0.10", 53, None, "rr")])
    plan = plan_host(host_tasks(c, host), facts)
    assert plan.error is not None
    assert plan.error.startswith("director: IPVS virtual services and real servers: ipvs: UDP 10.20.0.10:53 "
                                 "already exists on the host and lvsdeploy did not create it")


def test_an_lvsdeploy_without_the_record_is_adopted_from_its_boot_rules():
    # A director converged by an lvsdeploy that predates the record: its boot rules say what it made.
    c, host, host_now = converged_director()
    record = host_now.facts.files.pop(RECORD)
    host_now.facts.files[RECORD] = FileFact(False)
    plan = plan_host(host_tasks(c, host), host_now.facts)
    assert plan.error is None
    assert [p.change.resource for p in plan.changes] == [f"file {RECORD}"]
    assert FakeHost(host_now.facts).run(plan).files[RECORD] == record


def test_host_variables_override_the_directors_rules_file_for_both_roles(monkeypatch):
    # lvs_ipvs_rules_file is the director role's default; the boot role writes it and the ipvs task adopts it.
    c = cluster("dr")
    host = c.hosts["director1"]
    real_host_vars = plan_module.host_vars
    monkeypatch.setattr(plan_module, "host_vars",
                        lambda cl, h: {**real_host_vars(cl, h), "lvs_ipvs_rules_file": "/etc/ipvs/lvs.rules"})
    request = facts_request(host_tasks(c, host))
    assert "/etc/ipvs/lvs.rules" in request.files and IPVS_RULES not in request.files
    tasks = host_tasks(c, host).tasks
    assert next(t for t in tasks if t.module == "ipvs").args["adopt_from"] == "/etc/ipvs/lvs.rules"
    assert next(t for t in tasks if t.module == "boot_file" and t.args["kind"] == "ipvs").args["path"] == \
        "/etc/ipvs/lvs.rules"


def test_a_handler_defined_by_two_roles_runs_once(monkeypatch):
    from lvsdeploy.roles import Role, Task

    def role(name):
        task = Task(name, f"unit {name}", "file", {"path": f"/etc/{name}", "content": "x"}, notify=("reload systemd",))
        return Role(name, [task], {}, {"reload systemd": "systemctl daemon-reload"})

    monkeypatch.setattr(plan_module, "roles_for", lambda groups: [role("a"), role("b")])
    c = cluster("dr")
    facts = HostFacts(files={"/etc/a": FileFact(False), "/etc/b": FileFact(False)})
    plan = plan_host(host_tasks(c, c.hosts["rs1"]), facts)
    assert plan.handlers == [("reload systemd", "systemctl daemon-reload")]
