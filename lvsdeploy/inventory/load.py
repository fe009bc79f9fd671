"""Ansible YAML inventory (+ group_vars/, host_vars/) -> merged host variables -> `model.Cluster`.

Every variable is kept with the file and line it was written at, so that a problem found after merging
still points at the place to edit. Problems are collected, never raised one by one: `load_cluster` raises
a single InventoryError with everything it found.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from .. import model
from ..errors import InventoryError, Problem, Source, did_you_mean
from ..model import (CLUSTER_VARS, GROUP_NAME_PATTERN, HOST_NAME_PATTERN, HOST_VARS, LVS_VARS, REFUSED_VARS,
                     VARIABLE_NAME_PATTERN, Cluster, Host, SourceMap, show_value)
from ..validate import health_check_warnings, validate
from .yamlload import YDict, YList, load_yaml, plain

GROUP_KEYS = ("hosts", "vars", "children")
VAR_FILE_SUFFIXES = (".yml", ".yaml")
_INVALID = object()  # the parsed value of a variable whose raw value was rejected (already reported)
_ADAPTERS = {name: TypeAdapter(spec.type) for name, spec in HOST_VARS.items()}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ANSIBLE_VARS = tuple(sorted([*(v for v in HOST_VARS if v.startswith("ansible_")), *REFUSED_VARS]))
# Files given on this machine, relative to the inventory's folder (absolute ones stay as they are).
LOCAL_PATHS = ("connection.key_file", "connection.known_hosts")


@dataclass
class Var:
    raw: Any
    source: Source
    value: Any  # parsed for known variables (IPv4Interface...), raw otherwise; _INVALID if rejected


Layer = dict[str, Var]  # the variables of one `vars:` block, host entry or group_vars file


@dataclass
class _Group:
    source: Source
    layers: list[Layer] = field(default_factory=list)  # a group may be written several times
    parents: set[str] = field(default_factory=set)


@dataclass
class _HostEntry:
    source: Source
    groups: set[str] = field(default_factory=set)
    layers: list[Layer] = field(default_factory=list)


def load_cluster(path: str | Path) -> Cluster:
    """Read, merge and validate an inventory; raise InventoryError listing every problem found."""
    reader = _Reader(Path(path))
    cluster = reader.read()
    problems = reader.problems + (validate(cluster) if cluster is not None else [])
    if problems:
        unique = list(dict.fromkeys(problems))
        raise InventoryError(sorted(unique, key=lambda p: (p.file, p.line or 0)))
    cluster.warnings = cluster.warnings + health_check_warnings(cluster)
    return cluster


class _Reader:
    def __init__(self, path: Path):
        self.path = path
        self.shown = str(path)  # problems name files the way the user wrote the path
        self.base = path.absolute().parent
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.groups: dict[str, _Group] = {}
        self.hosts: dict[str, _HostEntry] = {}

    # ---- reading -------------------------------------------------------------------------------------

    def read(self) -> Cluster | None:
        group_files = self._var_files("group_vars")
        host_files = self._var_files("host_vars")
        loaded = load_yaml(self.path, self.shown)
        self.problems += loaded.problems
        if loaded.problems:
            return None
        self._read_top(loaded.data)
        self._check_var_file_names(group_files, self.groups, "group")
        self._check_var_file_names(host_files, self.hosts, "host")
        depth = self._group_depths()
        group_layers = {name: [self._layer(data, file, f"group {name}", name == "all") for data, file in files]
                        for name, files in group_files.items()}
        host_layers = {name: [self._layer(data, file, f"host {name}", False) for data, file in files]
                       for name, files in host_files.items()}
        hosts = {name: self._host(name, entry, depth, group_layers, host_layers.get(name, []))
                 for name, entry in self.hosts.items()}
        cluster_vars = _merge(self.groups["all"].layers + group_layers.get("all", []))
        services = self._entries(cluster_vars.get("lvs_virtual_services"), "lvs_virtual_services", "service",
                                 model.VirtualService)
        shares = self._entries(cluster_vars.get("lvs_shared_storage"), "lvs_shared_storage", "share", model.Share)
        failover = self._mapping(cluster_vars.get("lvs_failover"), "lvs_failover", model.Failover)
        storage_cluster = (self._mapping(cluster_vars.get("lvs_storage_cluster"), "lvs_storage_cluster",
                                         model.StorageCluster) or model.StorageCluster())
        ipvs = self._mapping(cluster_vars.get("lvs_ipvs"), "lvs_ipvs", model.IpvsSettings) or model.IpvsSettings()
        all_realservers = sorted(n for n, h in hosts.items() if h.is_realserver)
        for share in shares:
            if share.clients is None:  # documented default: every real server mounts the share
                share.clients = list(all_realservers)
        origin = SourceMap({name: var.source for name, var in cluster_vars.items()}, Source(self.shown))
        cluster = Cluster(source=self.path, hosts=hosts, services=services, shares=shares,
                          failover=failover, storage_cluster=storage_cluster, ipvs=ipvs).located(origin)
        cluster.warnings = list(dict.fromkeys(self.warnings))
        return cluster

    def _var_files(self, kind: str) -> dict[str, list[tuple[Any, str]]]:
        """{name: [(data, shown file)]}, in Ansible's order: NAME/ (recursively, sorted), NAME.yml, NAME.yaml."""
        root = self.base / kind
        if not root.is_dir():
            return {}
        shown_root = os.path.join(os.path.dirname(self.shown), kind)
        names = sorted({e.name if e.is_dir() else e.stem for e in root.iterdir()
                        if not e.name.startswith(".") and (e.is_dir() or e.suffix in VAR_FILE_SUFFIXES)})
        found: dict[str, list[tuple[Any, str]]] = {}
        for name in names:
            files = sorted(f for f in (root / name).rglob("*") if f.suffix in VAR_FILE_SUFFIXES and f.is_file())
            files += [root / (name + suffix) for suffix in VAR_FILE_SUFFIXES if (root / (name + suffix)).is_file()]
            for file in files:
                shown = os.path.join(shown_root, str(file.relative_to(root)))
                loaded = load_yaml(file, shown)
                self.problems += loaded.problems
                found.setdefault(name, []).append((loaded.data, shown))
        return found

    def _check_var_file_names(self, files: dict[str, list], known: dict, kind: str) -> None:
        # Ansible ignores group_vars/host_vars files that match nothing; for us that is almost always a typo
        for name, entries in files.items():
            if name not in known:
                hint = did_you_mean(name, sorted(known))
                self.problems.append(Problem(entries[0][1], None, f"{kind}_vars",
                                             f"there is no {kind} '{name}' in the inventory{hint}"))

    def _read_top(self, data: Any) -> None:
        self.groups["all"] = _Group(Source(self.shown, 1))
        if data is None:
            return
        if not isinstance(data, dict):
            self._problem(Source(self.shown, 1), "inventory",
                          f"must be a mapping of groups (all: ...), got {show_value(data)}")
            return
        for name, body in data.items():
            source = Source(self.shown, data.lines.get(name))
            self._read_group(str(name), body, source, None if str(name) == "all" else "all")

    def _read_group(self, name: str, body: Any, source: Source, parent: str | None) -> None:
        if not re.fullmatch(GROUP_NAME_PATTERN, name):
            self._problem(source, f"group {name!r}", "a group name is letters, digits and '_', not starting "
                                                     "with a digit (Ansible's rule)")
            return
        group = self.groups.setdefault(name, _Group(source))
        if parent is not None:
            group.parents.add(parent)
        where = f"group {name}"
        if body is None:
            return
        if not isinstance(body, dict):
            self._problem(source, where, f"must be a mapping with hosts, vars or children, got {show_value(body)}")
            return
        for key in body:
            if key not in GROUP_KEYS:
                self._problem(self._at(body, key), f"{where}: {key}",
                              f"unknown key{did_you_mean(str(key), GROUP_KEYS, list_all=True)}")
        if "vars" in body:
            group.layers.append(self._layer(body["vars"], self.shown, where, name == "all", self._at(body, "vars")))
        hosts = body.get("hosts")
        if isinstance(hosts, dict):
            for host, host_vars in hosts.items():
                self._read_host(str(host), host_vars, name, self._at(hosts, host))
        elif hosts is not None:
            self._problem(self._at(body, "hosts"), f"{where}: hosts",
                          f"must be a mapping of host names, got {show_value(hosts)}")
        children = body.get("children")
        if isinstance(children, dict):
            for child, child_body in children.items():
                self._read_group(str(child), child_body, self._at(children, child), name)
        elif children is not None:
            self._problem(self._at(body, "children"), f"{where}: children",
                          f"must be a mapping of group names, got {show_value(children)}")

    def _read_host(self, name: str, host_vars: Any, group: str, source: Source) -> None:
        if "[" in name:
            self._problem(source, f"host {name}", "host ranges like web[01:03] are not supported; list each host")
            return
        if not re.fullmatch(HOST_NAME_PATTERN, name):
            self._problem(source, f"host {name!r}", "a host name is letters, digits, '.', '_' and '-' (a host name, "
                                                    "an address or an ssh_config alias); set ansible_host for "
                                                    "anything else")
            return
        entry = self.hosts.setdefault(name, _HostEntry(source))
        entry.groups.add(group)
        if host_vars is not None:
            entry.layers.append(self._layer(host_vars, self.shown, f"host {name}", False, source))

    # ---- variables -----------------------------------------------------------------------------------

    def _layer(self, data: Any, file: str, owner: str, cluster_scope: bool, source: Source | None = None) -> Layer:
        """Check and parse one block of variables once, where it was written (not once per host)."""
        source = source or Source(file, getattr(data, "line", None))
        if data is None:
            return {}
        if not isinstance(data, dict):
            self._problem(source, owner, f"variables must be a mapping, got {show_value(data)}")
            return {}
        layer: Layer = {}
        for name, raw in data.items():
            at = Source(file, data.lines.get(name) if isinstance(data, YDict) else source.line)
            if not isinstance(name, str) or not re.fullmatch(VARIABLE_NAME_PATTERN, name):
                self._problem(at, owner, f"a variable name is letters, digits and '_', not starting with a digit, "
                                         f"got {name!r}")
                continue
            if name.startswith(("lvs_", "ansible_")) and _has_control(raw):
                self._problem(at, f"{owner}: {name}", "contains a control character (a newline, tab, NUL...); "
                                                      "values lvsdeploy uses are single lines of printable text")
                continue
            if name.startswith("ansible_") and name not in ANSIBLE_VARS:
                self.warnings.append(at.problem(f"{owner}: {name}", "not used by lvsdeploy, ignored"
                                                                    f"{did_you_mean(name, ANSIBLE_VARS)}"))
            if name in CLUSTER_VARS and not cluster_scope:
                self._problem(at, f"{owner}: {name}",
                              "is set for the whole cluster: put it in all.vars or group_vars/all.yml")
                continue
            if name.startswith("lvs_") and name not in LVS_VARS:
                self._problem(at, f"{owner}: {name}", f"unknown lvsdeploy variable{did_you_mean(name, LVS_VARS)}")
                continue
            layer[name] = Var(raw, at, self._parse_var(name, raw, at, owner))
        return layer

    def _parse_var(self, name: str, raw: Any, at: Source, owner: str) -> Any:
        if name in REFUSED_VARS:
            self._problem(at, f"{owner}: {name}", f"is not supported: {REFUSED_VARS[name]}")
            return _INVALID
        adapter = _ADAPTERS.get(name)
        if adapter is None:
            return raw
        try:
            value = adapter.validate_python(raw)
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            reason = f" ({error['ctx']['error']})" if error["type"] == "value_error" else ""
            self._problem(at, f"{owner}: {name}", f"must be {HOST_VARS[name].expect}, got {show_value(raw)}{reason}")
            return _INVALID
        if HOST_VARS[name].target in LOCAL_PATHS:
            value = self._local_path(value)
        return value

    def _local_path(self, value: str) -> Path:
        return self.base / Path(value).expanduser()  # absolute paths stay as they are

    def _group_depths(self) -> dict[str, int]:
        """Distance of each group from `all` along the longest path (Ansible orders group vars by it)."""
        depth: dict[str, int] = {"all": 0}
        visiting: set[str] = set()

        def of(name: str) -> int:
            if name in depth:
                return depth[name]
            if name in visiting:
                self._problem(self.groups[name].source, f"group {name}", "is its own ancestor (a children cycle)")
                return 0
            visiting.add(name)
            depth[name] = 1 + max((of(p) for p in self.groups[name].parents), default=0)
            visiting.discard(name)
            return depth[name]

        for name in list(self.groups):
            of(name)
        return depth

    def _ancestors(self, name: str) -> set[str]:
        seen, todo = set(), [name]
        while todo:
            group = todo.pop()
            if group not in seen:
                seen.add(group)
                todo.extend(self.groups[group].parents)
        return seen

    def _host(self, name: str, entry: _HostEntry, depth: dict[str, int],
              group_layers: dict[str, list[Layer]], host_layers: list[Layer]) -> Host:
        groups = {"all"}.union(*(self._ancestors(g) for g in entry.groups))
        if groups == {"all"}:
            groups.add("ungrouped")
        ordered = sorted(groups - {"all"}, key=lambda g: (depth.get(g, 0), g))
        layers = list(self.groups["all"].layers) + group_layers.get("all", [])
        for group in ordered:  # inventory vars of every group first, then every group_vars file
            layers += self.groups[group].layers if group in self.groups else []
        for group in ordered:
            layers += group_layers.get(group, [])
        merged = _merge(layers + entry.layers + host_layers)

        connection: dict[str, Any] = {"host": name}
        fields: dict[str, Any] = {}
        for var, spec in HOST_VARS.items():  # HOST_VARS order decides between aliases of one setting
            if var in merged and spec.target and merged[var].value is not _INVALID:
                if spec.target.startswith("connection."):
                    connection[spec.target.split(".", 1)[1]] = merged[var].value
                else:
                    fields[spec.target] = merged[var].value
        # ansible_ssh_common_args, then ansible_ssh_extra_args, as ssh gets them: the first value wins (OpenSSH)
        ssh_args = {**connection.pop("extra_args", {}), **connection.pop("common_args", {})}
        if "config_file" in ssh_args:
            connection["ssh_config"] = self._local_path(ssh_args.pop("config_file"))
        connection.update(ssh_args)
        origin = SourceMap({"": entry.source, **{var: v.source for var, v in merged.items()}})
        return Host(name=name, groups=frozenset(groups), vars={k: plain(v.raw) for k, v in merged.items()},
                    connection=model.Connection(**connection), **fields).located(origin)

    # ---- cluster-wide lists --------------------------------------------------------------------------

    def _entries(self, var: Var | None, var_name: str, label: str, cls: type) -> list:
        """Validate each item of lvs_virtual_services / lvs_shared_storage against its model."""
        if var is None or var.raw is None:
            return []
        if not isinstance(var.raw, list):
            self._problem(var.source, var_name, f"must be a list of {label}s, got {show_value(var.raw)}")
            return []
        built = []
        for i, item in enumerate(var.raw):
            line = var.raw.lines[i] if isinstance(var.raw, YList) else var.source.line
            origin = SourceMap(_line_map(item, var.source.file, line))
            name = item.get("name") if isinstance(item, dict) else None
            where = f"{label} {name}" if isinstance(name, str) and name else f"{var_name}[{i}]"
            if not isinstance(item, dict):
                self._problem(origin.at(), where, f"must be a mapping, got {show_value(item)}")
                continue
            try:
                built.append(cls.model_validate(item).located(origin))
            except ValidationError as exc:
                for path, what in model.explain(exc, cls):
                    self._problem(origin.at(path), f"{where}: {path}" if path else where, what)
        return built

    def _mapping(self, var: Var | None, var_name: str, cls: type):
        """Validate one mapping variable (lvs_failover) against its model; None when unset or invalid."""
        if var is None or var.raw is None:
            return None
        origin = SourceMap(_line_map(var.raw, var.source.file, var.source.line, var_name))
        if not isinstance(var.raw, dict):
            self._problem(var.source, var_name, f"must be {cls.SHAPE}, got {show_value(var.raw)}")
            return None
        try:
            built = cls.model_validate(var.raw)
        except ValidationError as exc:
            for path, what in model.explain(exc, cls):
                where = f"{var_name}.{path}" if path else var_name
                self._problem(origin.at(where), where, what)
            return None
        # paths inside the model are relative to it ("gateway"), as validate's rules name them
        return built.located(SourceMap({k.removeprefix(var_name + ".") if k != var_name else "": v
                                        for k, v in origin.entries.items()}, var.source))

    # ---- helpers -------------------------------------------------------------------------------------

    def _at(self, mapping: Any, key: Any) -> Source:
        return Source(self.shown, mapping.lines.get(key) if isinstance(mapping, YDict) else None)

    def _problem(self, source: Source, where: str, what: str) -> None:
        self.problems.append(source.problem(where, what))


def _has_control(value: Any) -> bool:
    """A control character anywhere in a value: in a string, a key, or nested inside lists and mappings."""
    if isinstance(value, str):
        return bool(_CONTROL.search(value))
    if isinstance(value, dict):
        return any(_has_control(k) or _has_control(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_control(v) for v in value)
    return False


def _merge(layers: list[Layer]) -> dict[str, Var]:
    merged: dict[str, Var] = {}
    for layer in layers:
        merged.update(layer)
    return merged


def _line_map(node: Any, file: str, line: int | None, prefix: str = "") -> dict[str, Source]:
    """Dotted paths inside a YAML value -> where each was written."""
    entries = {prefix: Source(file, line)}
    if isinstance(node, YDict):
        for key, value in node.items():
            entries.update(_line_map(value, file, node.lines.get(key, line), f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(node, YList):
        for i, value in enumerate(node):
            entries.update(_line_map(value, file, node.lines[i], f"{prefix}[{i}]"))
    return entries
