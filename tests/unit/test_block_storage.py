"""block_storage.py: how a gfs2/ocfs2 share becomes IQNs, a LUN, a cluster and mounts (no host needed)."""

from textwrap import dedent

from lvsdeploy.block_storage import client_vars, storage_vars
from lvsdeploy.desired import share_mounts
from lvsdeploy.inventory import load_cluster

INVENTORY = """\
all:
  vars:
    lvs_storage_cluster: {name: web, iqn_prefix: iqn.2026-11.com.example}
    lvs_shared_storage:
      - {name: content, server: storage1, export: /srv/lvs/content, mount: /var/www/html/shared}
      - {name: Cluster_1, type: gfs2, server: storage1, device: /dev/disk/by-id/virtio-lun0, mount: /srv/cluster}
  children:
    realservers: {hosts: {rs1: {lvs_rip: 10.20.0.11/24}, rs2: {lvs_rip: 10.20.0.12/24}}}
    storage: {hosts: {storage1: {lvs_storage_ip: 10.20.0.5/24}}}
"""
IQN = "iqn.2026-11.com.example:storage1.cluster-1"


def cluster(tmp_path, text=INVENTORY):
    path = tmp_path / "inv.yml"
    path.write_text(dedent(text))
    return load_cluster(path)


def test_the_storage_node_makes_the_filesystem_and_exports_the_lun(tmp_path):
    c = cluster(tmp_path)
    v = storage_vars(c, c.hosts["storage1"])
    assert v["lvs_block_filesystems"] == [{"device": "/dev/disk/by-id/virtio-lun0", "fstype": "gfs2",
                                           "cluster": "web", "name": "Cluster_1", "journals": 2}]
    assert v["lvs_iscsi_targets"] == [{"iqn": IQN, "backstore": "lvs_cluster-1", "device": "/dev/disk/by-id/virtio-lun0",
                                       "portal": "10.20.0.5:3260",
                                       "initiators": ["iqn.2026-11.com.example:rs1", "iqn.2026-11.com.example:rs2"]}]
    assert v["lvs_iscsi_target_prefix"] == "iqn.2026-11.com.example:storage1."


def test_a_client_logs_in_runs_corosync_with_every_client_and_mounts_the_lun(tmp_path):
    c = cluster(tmp_path)
    v = client_vars(c, c.hosts["rs2"])
    assert v["lvs_iscsi_initiator"] == "iqn.2026-11.com.example:rs2"
    assert v["lvs_iscsi_nodes"] == [{"target": IQN, "portal": "10.20.0.5:3260"}]
    assert v["lvs_cluster_stack"] == "gfs2" and v["lvs_cluster_name"] == "web"
    assert v["lvs_cluster_nodes"] == [{"name": "rs1", "id": 1, "address": "10.20.0.11"},
                                      {"name": "rs2", "id": 2, "address": "10.20.0.12"}]
    nfs, block = share_mounts(c, c.hosts["rs2"])
    assert nfs["fstype"] == "nfs"
    assert block == {"src": f"/dev/disk/by-path/ip-10.20.0.5:3260-iscsi-{IQN}-lun-0", "path": "/srv/cluster",
                     "fstype": "gfs2", "opts": "rw,noatime,_netdev,x-systemd.requires=dlm.service"}


def test_chosen_mount_options_keep_netdev_and_the_stack(tmp_path):
    text = INVENTORY.replace("mount: /srv/cluster}", "mount: /srv/cluster, options: {mount: 'rw,relatime'}}")
    c = cluster(tmp_path, text.replace("type: gfs2", "type: ocfs2"))
    block = share_mounts(c, c.hosts["rs1"])[1]
    assert block["opts"] == "rw,relatime,_netdev,x-systemd.requires=o2cb.service"


def test_a_host_without_block_shares_has_no_stack(tmp_path):
    c = cluster(tmp_path, INVENTORY.replace("mount: /srv/cluster}", "mount: /srv/cluster, clients: [rs1]}"))
    v = client_vars(c, c.hosts["rs2"])
    assert v["lvs_iscsi_nodes"] == [] and v["lvs_cluster_stack"] is None and v["lvs_cluster_nodes"] == []


def test_the_corosync_key_is_read_here_and_checked(tmp_path):
    (tmp_path / "authkey").write_bytes(b"k" * 256)
    text = INVENTORY.replace("iqn_prefix: iqn.2026-11.com.example}", "iqn_prefix: iqn.2026-11.com.example, "
                                                                     "key_file: authkey}")
    c = cluster(tmp_path, text)
    assert client_vars(c, c.hosts["rs1"])["lvs_cluster_key"] == b"k" * 256
    from lvsdeploy.validate import validate
    assert validate(c) == []
    (tmp_path / "authkey").write_bytes(b"short")
    (found,) = validate(c)
    assert found.where == "lvs_storage_cluster: key_file" and "must be a file of 128 to 4096 bytes" in found.what


def test_validate_names_a_block_shares_device(tmp_path, capsys):
    from lvsdeploy import cli
    path = tmp_path / "inv.yml"
    path.write_text(INVENTORY)
    assert cli.main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "  share Cluster_1: gfs2 storage1:/dev/disk/by-id/virtio-lun0 (iSCSI LUN) -> /srv/cluster" in out
    assert "  share content: nfs storage1:/srv/lvs/content -> /var/www/html/shared" in out
