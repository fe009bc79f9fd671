"""Shared storage as role variables and rendered roles: exports per storage node, mounts per real server."""

from ipaddress import IPv4Interface
from pathlib import Path
from textwrap import dedent, indent

from lvsdeploy import desired
from lvsdeploy.facts import FileFact, HostFacts, Interface, UnitFact
from lvsdeploy.inventory import load_cluster
from lvsdeploy.plan import facts_request, host_tasks, plan_host

REPO = Path(__file__).resolve().parents[2]
EXPORTS = "/etc/exports.d/lvsdeploy.exports"


def cluster_with(tmp_path, shares: str):
    """The DR lab's cluster with `shares` (YAML for all.vars, indented as there) added."""
    path = tmp_path / "inv.yml"
    path.write_text(
        "all:\n"
        "  vars:\n"
        "    lvs_virtual_services:\n"
        "      - {name: web, vip: 10.20.0.10, port: 80, mode: dr, realservers: [{host: rs1}, {host: rs2}]}\n"
        + indent(dedent(shares), "    ") +
        "  children:\n"
        "    directors: {hosts: {director1: {lvs_dip: 10.20.0.2/24}}}\n"
        "    realservers: {hosts: {rs1: {lvs_rip: 10.20.0.11/24}, rs2: {lvs_rip: 10.20.0.12/24}}}\n"
        "    storage: {hosts: {storage1: {lvs_storage_ip: 10.20.0.5/24}}}\n"
    )
    return load_cluster(path)


TWO_SHARES = """\
    lvs_shared_storage:
      - {name: content, server: storage1, export: /srv/lvs/content/, mount: /var/www/html/shared}
      - name: media
        server: storage1
        export: /srv/lvs/media
        mount: /var/www/html/media
        clients: [rs2]
        options: {export: "ro,sync,no_subtree_check", mount: "ro,soft,vers=4.2"}
"""


def fresh_facts(cluster, host) -> HostFacts:
    """A host where nothing of lvsdeploy exists yet: its base address on eth0, every file it asks for absent."""
    base = host.rip or host.storage_ip
    facts = HostFacts(packages={"nfs-kernel-server": "1:2.6.2-4", "nfs-common": "1:2.6.2-4"},
                      interfaces={"eth0": Interface("eth0", "52:54:00:12:34:56", True, None, [IPv4Interface(base)])})
    for path in facts_request(host_tasks(cluster, host)).files:
        facts.files[path] = FileFact(False)
    return facts


def test_exports_go_to_each_clients_rip_only(tmp_path):
    cluster = cluster_with(tmp_path, TWO_SHARES)
    storage = desired.host_vars(cluster, cluster.hosts["storage1"])
    assert storage["lvs_exports"] == [
        {"name": "content", "path": "/srv/lvs/content", "clients": ["10.20.0.11/32", "10.20.0.12/32"],
         "options": "rw,sync,no_subtree_check,root_squash"},
        {"name": "media", "path": "/srv/lvs/media", "clients": ["10.20.0.12/32"], "options": "ro,sync,no_subtree_check"},
    ]
    assert "lvs_share_mounts" not in storage and "lvs_exports" not in desired.host_vars(cluster, cluster.hosts["rs1"])


def test_mounts_per_realserver_with_boot_options_added(tmp_path):
    cluster = cluster_with(tmp_path, TWO_SHARES)
    rs1 = desired.host_vars(cluster, cluster.hosts["rs1"])["lvs_share_mounts"]
    rs2 = desired.host_vars(cluster, cluster.hosts["rs2"])["lvs_share_mounts"]
    content = {"src": "10.20.0.5:/srv/lvs/content", "path": "/var/www/html/shared", "fstype": "nfs",
               "opts": "rw,hard,vers=4.2,_netdev,bg"}
    assert rs1 == [content]
    # options without _netdev get it; a retry choice already made (bg/fg/automount) is left alone
    assert rs2 == [content, {"src": "10.20.0.5:/srv/lvs/media", "path": "/var/www/html/media", "fstype": "nfs",
                             "opts": "ro,soft,vers=4.2,_netdev,bg"}]
    cluster.shares[1].options.mount = "ro,x-systemd.automount,_netdev"
    assert desired.share_mounts(cluster, cluster.hosts["rs2"])[1]["opts"] == "ro,x-systemd.automount,_netdev"


def test_no_shares_still_plans_the_purge(tmp_path):
    cluster = cluster_with(tmp_path, "")
    assert desired.host_vars(cluster, cluster.hosts["rs1"])["lvs_share_mounts"] == []
    assert desired.host_vars(cluster, cluster.hosts["storage1"])["lvs_exports"] == []
    # an fstab line lvsdeploy wrote for a share that has left the inventory is still removed
    line = "10.20.0.5:/srv/old /var/www/html/old nfs rw,_netdev,bg 0 0 # lvsdeploy"
    facts = fresh_facts(cluster, cluster.hosts["rs1"])
    facts.files["/etc/fstab"] = FileFact(True, f"/dev/vda1 / ext4 defaults 0 1\n{line}\n".encode(), "0644",
                                         "root", "root", "file")
    plan = plan_host(host_tasks(cluster, cluster.hosts["rs1"]), facts)
    assert plan.error is None
    (fstab,) = [c.change for c in plan.changes if c.change.resource == "file /etc/fstab"]
    assert fstab.diff == (f"- {line}",)
    assert not [c for c in plan.changes if "nfs-common" in c.change.resource]


def test_storage_role_plan_and_exports_file(tmp_path):
    cluster = cluster_with(tmp_path, TWO_SHARES)
    host = cluster.hosts["storage1"]
    facts = fresh_facts(cluster, host)
    plan = plan_host(host_tasks(cluster, host), facts)
    assert plan.error is None
    storage = [(c.task, c.change) for c in plan.changes if c.task.startswith("storage:")]
    assert [change.resource for _, change in storage] == [
        "command mkdir -p -- /srv/lvs/content", "command mkdir -p -- /srv/lvs/media",
        f"file {EXPORTS}", "service nfs-server.service"]
    exports = next(change for _, change in storage if change.resource == f"file {EXPORTS}")
    added = [line[1:] for line in exports.diff if line.startswith("+") and not line.startswith("+++")]
    assert added == [
        "# Managed by lvsdeploy from lvs_shared_storage; rewritten on every apply, edits here are lost.",
        "# share content",
        ("/srv/lvs/content 10.20.0.11/32(rw,sync,no_subtree_check,root_squash)"
         " 10.20.0.12/32(rw,sync,no_subtree_check,root_squash)"),
        "# share media",
        "/srv/lvs/media 10.20.0.12/32(ro,sync,no_subtree_check)",
    ]
    assert "*" not in "".join(added)
    assert ("reload exports", "exportfs -ra") in plan.handlers
    # Converged: the directories exist, the file is as rendered, the server runs: no storage change, no handler.
    facts.files.update({"/srv/lvs/content": FileFact(True, kind="directory"),
                        "/srv/lvs/media": FileFact(True, kind="directory"),
                        EXPORTS: FileFact(True, "\n".join(added).encode() + b"\n", "0644", "root", "root", "file")})
    facts.units["nfs-server.service"] = UnitFact("loaded", "enabled", "active")
    again = plan_host(host_tasks(cluster, host), facts)
    assert not [c for c in again.changes if c.task.startswith("storage:")]
    assert "reload exports" not in [name for name, _ in again.handlers]


def test_share_without_client_address_is_never_exported_to_everyone(tmp_path):
    cluster = cluster_with(tmp_path, """\
        lvs_shared_storage:
          - {name: empty, server: storage1, export: /srv/empty, mount: /mnt/empty, clients: []}
    """)
    host = cluster.hosts["storage1"]
    (exports,) = [c.change for c in plan_host(host_tasks(cluster, host), fresh_facts(cluster, host)).changes
                  if c.change.resource == f"file {EXPORTS}"]
    text = "\n".join(exports.diff)
    assert "+# /srv/empty has no client with an address: not exported" in text
    assert "\n+/srv/empty" not in text
