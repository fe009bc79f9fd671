"""Roles are data: roles/<role>/{tasks,defaults,handlers}/main.yml, rendered with Jinja2 per host.

A task names one module and its arguments, with optional `when:` (a Jinja2 expression), `loop:` (items
bound to `item`) and `notify:` (handler names). `template:` tasks render a file from the role's own
templates/ folder and become `file:` tasks. Arguments are rendered with Jinja2's native types, so
"{{ lvs_vips }}" stays a list and "{{ lvs_ipvs_services }}" hands the typed services to the module as they
are (Jinja looks them up; it never turns them into text).

The roles ship inside the package (lvsdeploy.shipped_roles, from the checkout's top-level roles/ folder);
LVSDEPLOY_ROLES points at another folder of the same layout.
"""

import os
import shlex
from functools import lru_cache
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from jinja2.nativetypes import NativeEnvironment

from .modules import MODULES

ROLES_DIR = Path(os.environ.get("LVSDEPLOY_ROLES") or str(files("lvsdeploy.shipped_roles")))
OMIT = "__lvsdeploy_omit__"
TASK_KEYS = {"name", "when", "loop", "notify"}
# group -> role applied to its hosts, in this order on a host that is in several groups
GROUP_ROLES = [("realservers", "realserver"), ("directors", "director"), ("storage", "storage")]


class RoleError(Exception):
    """A role that cannot be loaded or rendered; the message names role, task and why."""


@dataclass
class Task:
    role: str
    name: str
    module: str
    args: Any
    when: str | None = None
    loop: Any = None
    notify: tuple[str, ...] = ()


@dataclass
class Role:
    name: str
    tasks: list[Task]
    defaults: dict = field(default_factory=dict)
    handlers: dict[str, str] = field(default_factory=dict)   # handler name -> shell command


@dataclass
class RenderedTask:
    label: str          # "director: IPVS kernel modules (ip_vs_rr)"
    module: str
    args: dict
    notify: tuple[str, ...]


def _dict2items(d: dict) -> list[dict]:
    return [{"key": k, "value": v} for k, v in d.items()]


def _environment(cls, loader=None):
    env = cls(undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
              loader=loader)
    env.filters.update(dict2items=_dict2items, quote=shlex.quote)   # as Ansible's: a value safe in sh
    return env


NATIVE = _environment(NativeEnvironment)


@lru_cache(maxsize=None)
def _templates(role: str) -> Environment:
    """File templates come from the role's own templates/ folder."""
    return _environment(Environment, FileSystemLoader(str(ROLES_DIR / role / "templates")))


def _read_yaml(path: Path, default):
    if not path.exists():
        return default
    with path.open() as f:
        return yaml.safe_load(f) or default


@lru_cache(maxsize=None)
def load_role(name: str) -> Role:
    base = ROLES_DIR / name
    if not base.is_dir():
        raise RoleError(f"role {name!r} not found in {ROLES_DIR}")
    tasks = []
    for i, raw in enumerate(_read_yaml(base / "tasks" / "main.yml", [])):
        modules = [k for k in raw if k in MODULES or k == "template"]
        if len(modules) != 1:
            raise RoleError(f"role {name}: task {i + 1} ({raw.get('name', '?')}): needs exactly one module of "
                            f"{', '.join(sorted([*MODULES, 'template']))}")
        unknown = set(raw) - TASK_KEYS - {modules[0]}
        if unknown:
            raise RoleError(f"role {name}: task {i + 1} ({raw.get('name', '?')}): unknown key(s) "
                            f"{', '.join(sorted(unknown))}; a task has {', '.join(sorted(TASK_KEYS))} and one module")
        notify = raw.get("notify", ())
        tasks.append(Task(name, raw.get("name", modules[0]), modules[0], raw[modules[0]], raw.get("when"),
                          raw.get("loop"), tuple([notify] if isinstance(notify, str) else notify)))
    handlers = {h["name"]: h["shell"] for h in _read_yaml(base / "handlers" / "main.yml", [])}
    return Role(name, tasks, _read_yaml(base / "defaults" / "main.yml", {}), handlers)


def roles_for(groups) -> list[Role]:
    """common first, boot last; hosts in none of the managed groups (clients) get no roles."""
    middle = [role for group, role in GROUP_ROLES if group in groups]
    return [load_role(n) for n in ["common", *middle, "boot"]] if middle else []


@lru_cache(maxsize=4096)
def _compiled(source: str):
    return NATIVE.from_string(source)


def render(value: Any, variables: dict) -> Any:
    """Render every string inside `value`; keys whose value renders to `omit` are dropped."""
    if isinstance(value, str):
        return _compiled(value).render(variables) if "{" in value else value
    if isinstance(value, list):
        return [render(v, variables) for v in value]
    if isinstance(value, dict):
        out = {k: render(v, variables) for k, v in value.items()}
        return {k: v for k, v in out.items() if v != OMIT}
    return value


def expand(role: Role, task: Task, variables: dict) -> list[RenderedTask]:
    """One task -> zero (when is false), one, or one per loop item, with arguments rendered."""
    scope = {**role.defaults, **variables, "omit": OMIT}
    scope["lookup"] = _lookup(role.name, scope)
    where = f"role {role.name}: task {task.name!r}"
    try:
        items = render(task.loop, scope) if task.loop is not None else [None]
        rendered = []
        for item in items:
            local = {**scope, "item": item} if task.loop is not None else scope
            if task.when is not None and not _compiled("{{ " + task.when + " }}").render(local):
                continue
            args = render(task.args, local)
            module = task.module
            if module == "template":
                args = _template_to_file(role.name, args, local)
                module = "file"
            label = f"{role.name}: {task.name}" + (f" ({_item_label(item)})" if task.loop is not None else "")
            rendered.append(RenderedTask(label, module, args, task.notify))
        return rendered
    except RoleError:
        raise
    except Exception as exc:  # jinja2 errors carry the useful text
        raise RoleError(f"{where}: {exc}") from None


def _item_label(item) -> str:
    """dict2items items by their key, other mappings by their values: "net.ipv4.ip_forward", "10.20.0.10/32 lo"."""
    if isinstance(item, dict):
        return str(item["key"]) if "key" in item else " ".join(str(v) for v in item.values())
    return str(item)


def _lookup(role: str, variables: dict):
    """Ansible's `lookup('template', 'x.j2')`: a template of the role, rendered, as a task's argument (a module
    that must compare a file's content before the `template:` task writes it)."""
    def lookup(kind: str, src: str) -> str:
        if kind != "template":
            raise RoleError(f"role {role}: lookup({kind!r}, ...): only lookup('template', NAME) is supported")
        return _templates(role).get_template(src).render(variables)
    return lookup


def _template_to_file(role: str, args: dict, variables: dict) -> dict:
    args = dict(args)
    src = args.pop("src")
    args["path"] = args.pop("dest")
    args["content"] = _templates(role).get_template(src).render(variables)
    return args
