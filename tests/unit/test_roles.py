"""roles.py: the roles in roles/ load; a task expands by when/loop/omit/notify; templates become files; errors
name the role and the task."""

from textwrap import dedent

import pytest

from lvsdeploy import roles
from lvsdeploy.modules import MODULES
from lvsdeploy.roles import OMIT, Role, RoleError, Task, expand, load_role, roles_for

ROLE_NAMES = sorted(p.name for p in roles.ROLES_DIR.iterdir() if p.is_dir())


def test_the_roles_directory_holds_the_known_roles():
    assert {"common", "director", "realserver", "storage", "boot"} <= set(ROLE_NAMES)


@pytest.mark.parametrize("name", ROLE_NAMES)
def test_every_role_loads_with_known_modules(name):
    role = load_role(name)
    assert role.name == name
    for task in role.tasks:
        assert task.role == name
        assert task.module in MODULES or task.module == "template", task
        assert task.name and task.name != task.module, f"{name}: every task has a name of its own"


def test_every_notified_handler_is_defined_by_a_role_applied_with_it():
    handlers = {name: set(load_role(name).handlers) for name in ROLE_NAMES}
    for name in ROLE_NAMES:
        for task in load_role(name).tasks:
            for handler in task.notify:
                # common is applied to every managed host, so its handlers are always available.
                assert handler in handlers[name] | handlers["common"], f"{name}: {task.name}: {handler}"


def test_handlers_are_shell_commands():
    assert load_role("storage").handlers == {"reload exports": "exportfs -ra"}
    assert load_role("common").handlers == {}


@pytest.mark.parametrize("name", ROLE_NAMES)
def test_no_role_reloads_systemd_itself(name):
    # The apply script reloads systemd once, when its changes need it (plan.HostPlan.script); a handler or a
    # command doing it again would cost seconds per reload on a slow host.
    role = load_role(name)
    assert not any("daemon-reload" in command for command in role.handlers.values())
    assert not any("daemon-reload" in str(task.args) for task in role.tasks)
    assert not any("systemd" in handler for task in role.tasks for handler in task.notify)


def test_defaults_are_loaded():
    # The director role owns the rules file's default (its ipvs task adopts from it; boot writes it).
    assert load_role("director").defaults["lvs_ipvs_rules_file"] == "/etc/lvsdeploy/ipvs.rules"
    assert load_role("boot").defaults.get("lvs_ipvs_rules_file") is None
    assert load_role("common").defaults.get("lvs_ipvs_rules_file") is None


@pytest.mark.parametrize("owner", ["lvsdeploy", "keepalived", "ldirectord"])
def test_director_ipvs_task_keeps_a_record_and_adopts_the_boot_rules(owner):
    # The owner (desired.director_vars: lvsdeploy, or the health checker) is passed as it is; it has no default.
    director = load_role("director")
    task = next(t for t in director.tasks if t.module == "ipvs")
    assert "lvs_ipvs_owner" not in director.defaults
    (rendered,) = expand(director, task, {**director.defaults, "lvs_ipvs_services": [], "lvs_ipvs_owner": owner})
    assert rendered.args == {"services": [], "owner": owner, "record": "/etc/lvsdeploy/ipvs.managed",
                             "adopt_from": "/etc/lvsdeploy/ipvs.rules", "drained": "/etc/lvsdeploy/drained",
                             "drain": [], "undrain": []}


@pytest.mark.parametrize("groups,expected", [
    ({"all", "directors"}, ["common", "director", "boot"]),
    ({"all", "realservers"}, ["common", "realserver", "boot"]),
    ({"all", "storage"}, ["common", "storage", "boot"]),
    ({"all", "storage", "realservers"}, ["common", "realserver", "storage", "boot"]),
    ({"all", "clients"}, []),
    ({"all", "web"}, []),
])
def test_roles_for_groups(groups, expected):
    assert [r.name for r in roles_for(frozenset(groups))] == expected


# ---- expand --------------------------------------------------------------------------------------------

def one_task(module="sysctl", args=None, **kw) -> tuple[Role, Task]:
    task = Task("demo", kw.pop("name", "demo task"), module, args if args is not None else {}, **kw)
    return Role("demo", [task], kw.pop("defaults", {}), {}), task


def test_plain_task_renders_its_arguments():
    role, task = one_task(args={"name": "net.ipv4.ip_forward", "value": "{{ forward }}"})
    (rendered,) = expand(role, task, {"forward": "1"})
    assert rendered.label == "demo: demo task"
    assert rendered.module == "sysctl"
    assert rendered.args == {"name": "net.ipv4.ip_forward", "value": 1}  # native types: "1" renders as 1
    assert rendered.notify == ()


def test_when_false_gives_no_task_and_true_gives_one():
    role, task = one_task(args={"name": "ipip"}, module="kernel_module", when="'tun' in modes")
    assert expand(role, task, {"modes": ["dr"]}) == []
    (rendered,) = expand(role, task, {"modes": ["tun"]})
    assert rendered.args == {"name": "ipip"}


def test_loop_gives_one_task_per_item_labelled_by_item():
    role, task = one_task(module="kernel_module", args={"name": "{{ item }}"}, loop="{{ modules }}")
    rendered = expand(role, task, {"modules": ["ip_vs", "ip_vs_rr"]})
    assert [(r.label, r.args) for r in rendered] == [
        ("demo: demo task (ip_vs)", {"name": "ip_vs"}), ("demo: demo task (ip_vs_rr)", {"name": "ip_vs_rr"})]
    assert expand(role, task, {"modules": []}) == []


def test_loop_over_dict2items_is_labelled_by_key_and_when_sees_the_item():
    role, task = one_task(args={"name": "{{ item.key }}", "value": "{{ item.value }}"},
                          loop="{{ settings | dict2items }}", when="item.value != 'skip'")
    rendered = expand(role, task, {"settings": {"net.ipv4.conf.all.arp_ignore": "1", "kernel.x": "skip"}})
    assert [(r.label, r.args) for r in rendered] == [
        ("demo: demo task (net.ipv4.conf.all.arp_ignore)", {"name": "net.ipv4.conf.all.arp_ignore", "value": 1})]


def test_omit_drops_the_argument():
    role, task = one_task(module="ip_address", args={"address": "10.0.0.1/24", "dev": "{{ iface or omit }}"})
    (rendered,) = expand(role, task, {"iface": None})
    assert rendered.args == {"address": "10.0.0.1/24"}
    (rendered,) = expand(role, task, {"iface": "eth1"})
    assert rendered.args == {"address": "10.0.0.1/24", "dev": "eth1"}
    assert OMIT not in str(expand(role, task, {"iface": ""})[0].args)


def test_native_types_keep_lists_and_mappings():
    services = [{"vip": "10.20.0.10", "port": 80, "destinations": [{"ip": "10.20.0.11"}]}]
    role, task = one_task(module="ipvs", args={"services": "{{ services }}"})
    (rendered,) = expand(role, task, {"services": services})
    assert rendered.args == {"services": services}


def test_notify_is_carried_to_every_item():
    role, task = one_task(module="file", args={"path": "/etc/{{ item }}", "content": "x"}, loop=["a", "b"],
                          notify=("reload systemd",))
    assert [r.notify for r in expand(role, task, {})] == [("reload systemd",), ("reload systemd",)]


def test_role_defaults_are_overridden_by_host_variables():
    task = Task("demo", "rules", "file", {"path": "{{ rules_file }}", "content": "x"})
    role = Role("demo", [task], {"rules_file": "/etc/default.rules"})
    assert expand(role, task, {})[0].args["path"] == "/etc/default.rules"
    assert expand(role, task, {"rules_file": "/etc/mine.rules"})[0].args["path"] == "/etc/mine.rules"


def test_template_task_becomes_a_file_task_rendered_from_the_roles_own_templates():
    boot = load_role("boot")
    task = next(t for t in boot.tasks if t.name == "boot unit restoring the IPVS table")
    # The rules file's default comes from the director role, applied before boot (plan.host_tasks merges them).
    (rendered,) = expand(boot, task, {**load_role("director").defaults, "group_names": ["all", "directors"]})
    assert rendered.module == "file"
    assert rendered.label == "boot: boot unit restoring the IPVS table"
    assert rendered.notify == ()   # the script reloads systemd after writing a unit, not a handler
    assert rendered.args["path"] == "/etc/systemd/system/lvsdeploy-ipvs.service"
    assert "ExecStart=/bin/sh -c 'ipvsadm -R < /etc/lvsdeploy/ipvs.rules'" in rendered.args["content"]
    assert (roles.ROLES_DIR / "boot" / "templates" / "lvsdeploy-ipvs.service.j2").is_file()


def test_boot_files_are_typed_tasks_not_templates():
    # what a boot file holds comes from the modules' persist(), collected by plan.py; nothing is injected
    boot = load_role("boot")
    script = next(t for t in boot.tasks if t.name == "boot script for addresses, links and routes")
    (rendered,) = expand(boot, script, {"group_names": ["all", "realservers"]})
    assert (rendered.module, rendered.args) == (
        "boot_file", {"kind": "network", "path": "/usr/local/sbin/lvsdeploy-network", "mode": "0755"})


def test_quote_filter_makes_a_value_safe_in_sh():
    task = Task("demo", "dir", "command", {"cmd": "mkdir -p -- {{ item | quote }}", "creates": "{{ item }}"},
                loop=["/srv/o'brien"])
    (rendered,) = expand(Role("demo", [task]), task, {})
    assert rendered.args["cmd"] == "mkdir -p -- '/srv/o'\"'\"'brien'"


# ---- errors --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("task_kw,message", [
    ({"args": {"name": "{{ no_such_variable }}", "value": "1"}}, "'no_such_variable' is undefined"),
    ({"args": {"name": "{{ foo( }}", "value": "1"}}, "unexpected"),
    ({"args": {"name": "x", "value": "1"}, "when": "modes |"}, "expected"),
    ({"args": {"name": "{{ item }}", "value": "1"}, "loop": "{{ missing_list }}"}, "'missing_list' is undefined"),
    ({"args": {"name": "x", "value": "{{ 1 | no_such_filter }}"}}, "no_such_filter"),
])
def test_bad_jinja_gives_role_error_naming_role_and_task(task_kw, message):
    role, task = one_task(name="director sysctls", **task_kw)
    with pytest.raises(RoleError) as caught:
        expand(role, task, {"modes": []})
    assert str(caught.value).startswith("role demo: task 'director sysctls': ")
    assert message in str(caught.value)


def test_missing_template_names_it():
    role, task = one_task(module="template", args={"src": "nope.j2", "dest": "/etc/nope"})
    with pytest.raises(RoleError, match=r"^role demo: task 'demo task': 'nope\.j2' not found"):
        expand(role, task, {})


def write_role(root, name: str, tasks: str) -> None:
    (root / name / "tasks").mkdir(parents=True)
    (root / name / "tasks" / "main.yml").write_text(dedent(tasks))


def test_unknown_role_is_a_role_error(tmp_path, monkeypatch):
    monkeypatch.setattr(roles, "ROLES_DIR", tmp_path)
    with pytest.raises(RoleError, match="role 'nothere' not found"):
        load_role("nothere")


@pytest.mark.parametrize("tasks", [
    "- name: two modules\n  sysctl: {name: a.b, value: 1}\n  file: {path: /x, content: y}\n",
    "- name: no module\n  shell: echo hi\n",
])
def test_task_needs_exactly_one_module(tmp_path, monkeypatch, tasks):
    monkeypatch.setattr(roles, "ROLES_DIR", tmp_path)
    write_role(tmp_path, "broken", tasks)
    with pytest.raises(RoleError, match=r"^role broken: task 1 \(\w+ modules?\): needs exactly one module of "):
        load_role("broken")


def test_role_without_defaults_or_handlers(tmp_path, monkeypatch):
    monkeypatch.setattr(roles, "ROLES_DIR", tmp_path)
    write_role(tmp_path, "tiny", "- name: a file\n  file: {path: /etc/x, content: y}\n  notify: reload systemd\n")
    role = load_role("tiny")
    assert (role.defaults, role.handlers) == ({}, {})
    assert role.tasks == [Task("tiny", "a file", "file", {"path": "/etc/x", "content": "y"}, None, None,
                               ("reload systemd",))]


def test_misspelt_task_keyword_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(roles, "ROLES_DIR", tmp_path)
    write_role(tmp_path, "typo", """\
        - name: IPIP tunnel module (TUN)
          kernel_module: {name: ipip}
          whne: "'tun' in lvs_realserver_modes"
        """)
    with pytest.raises(RoleError, match="whne"):
        load_role("typo")


def test_lookup_template_renders_a_template_of_the_role_as_an_argument():
    # the realserver role hands corosync.conf, as its template task will write it, to corosync_restart
    role = load_role("realserver")
    (task,) = [t for t in role.tasks if t.module == "corosync_restart"]
    nodes = [{"name": "rs1", "id": 1, "address": "10.20.0.11"}, {"name": "rs2", "id": 2, "address": "10.20.0.12"}]
    (rendered,) = expand(role, task, {"lvs_cluster_stack": "gfs2", "lvs_cluster_name": "lvs",
                                      "lvs_cluster_nodes": nodes, "lvs_cluster_key": None})
    assert rendered.args["config"].startswith("# Managed by lvsdeploy")
    assert "cluster_name: lvs" in rendered.args["config"] and "10.20.0.12" in rendered.args["config"]
    assert "key" not in rendered.args
    bad = Task("demo", "bad", "command", {"cmd": "{{ lookup('file', '/etc/shadow') }}"})
    with pytest.raises(RoleError, match="only lookup\\('template', NAME\\)"):
        expand(role, bad, {})
