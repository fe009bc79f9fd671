"""gfs2/ocfs2 shares, per share: the storage node exports the device as LUN 0 of the share's iSCSI target, to
exactly its clients' initiator names, saved for the next boot, with the share's filesystem on it; every client
is logged in (now and at boot) and runs the filesystem's cluster stack, quorate; a file written on one client
is read at once on the others and served through the VIP by every real server.
(fstab and the mount itself: test_storage.py's test_mounted_on_every_client.)"""

import json
import uuid
from pathlib import PurePosixPath

import pytest

from lvsdeploy.facts.iscsi import INITIATOR_SNIPPET, TARGET_SNIPPET, parse_initiator, parse_targets

from . import spec
from .checks import failure, wait_until
from .conftest import _cluster
from .test_storage import DOCUMENT_ROOT, MOUNT_WAIT, _served_through_vip


def pytest_generate_tests(metafunc):
    if "block_share" not in metafunc.fixturenames:
        return
    shares = [s for s in _cluster(metafunc.config).shares if s.type in spec.BLOCK_TYPES]
    if shares:
        metafunc.parametrize("block_share", shares, ids=[s.name for s in shares])
    else:
        skip = pytest.mark.skip(reason="the inventory has no gfs2 or ocfs2 share")
        metafunc.parametrize("block_share", [pytest.param(None, marks=skip)], ids=["no-block-shares"])


def test_lun_exported_to_its_clients_only(block_share, cluster, remote):
    share, wanted = block_share, spec.block_target(cluster, block_share)
    host = remote(share.server)
    targets = parse_targets(host.check_output(TARGET_SNIPPET))
    tpg = targets.tpgs.get((wanted.iqn, 1))
    assert tpg is not None and tpg.enabled, failure(share.server, f"iSCSI target {wanted.iqn}", "enabled",
                                                   "enabled" if tpg else "absent")
    lun = targets.backstores.get(tpg.luns.get(0, ""))
    assert lun == wanted.device, failure(share.server, f"{wanted.iqn} LUN 0", wanted.device, lun or "none")
    assert tpg.acls == wanted.initiators, failure(share.server, f"{wanted.iqn} ACL", sorted(wanted.initiators),
                                                  sorted(tpg.acls))
    assert tpg.portals == {wanted.portal}, failure(share.server, f"{wanted.iqn} portals", [wanted.portal],
                                                   sorted(tpg.portals))
    saved = json.loads(host.file(spec.TARGET_SAVED).content_string or "{}")
    assert wanted.iqn in {t.get("wwn") for t in saved.get("targets", [])}, failure(
        share.server, spec.TARGET_SAVED, f"{wanted.iqn} (restored at boot)", "not saved")
    assert host.service(spec.TARGET_UNIT).is_enabled, failure(share.server, spec.TARGET_UNIT, "enabled", "not")


def test_filesystem_on_the_lun(block_share, cluster, remote):
    share = block_share
    found = remote(share.server).run(f"blkid -p -o export {share.device}").stdout
    fields = dict(line.split("=", 1) for line in found.splitlines() if "=" in line)
    assert fields.get("TYPE") == share.type, failure(share.server, share.device, f"a {share.type} filesystem",
                                                     fields.get("TYPE") or "no filesystem")
    if share.type == "gfs2":
        table = spec.lock_table(cluster, share)
        assert fields.get("LABEL") == table, failure(share.server, share.device, f"lock table {table}",
                                                     fields.get("LABEL"))


def test_clients_logged_in_and_their_cluster_quorate(block_share, cluster, remote):
    share, wanted = block_share, spec.block_target(cluster, block_share)
    for client in spec.mounting_clients(cluster, share):
        host = remote(client)
        name = spec.iqn(cluster, client)
        assert host.file(spec.INITIATOR_FILE).content_string.strip() == f"InitiatorName={name}", failure(
            client, spec.INITIATOR_FILE, f"InitiatorName={name}", host.file(spec.INITIATOR_FILE).content_string)
        state = parse_initiator(host.check_output(INITIATOR_SNIPPET))
        key = (wanted.iqn, wanted.portal)
        assert key in state.sessions, failure(client, f"iSCSI session {wanted.iqn}", "logged in", "not logged in")
        node = state.nodes.get(key)
        assert node is not None and node.startup == "automatic", failure(
            client, f"iSCSI record {wanted.iqn}", "node.startup = automatic", node.startup if node else "no record")
        for unit in (spec.INITIATOR_UNIT, *spec.STACK_UNITS[share.type]):
            service = host.service(unit)
            assert service.is_enabled, failure(client, unit, "enabled", "not enabled")
        for unit in spec.STACK_UNITS[share.type]:
            assert host.service(unit).is_running, failure(client, unit, "running", "not running")
        if share.type == "gfs2":
            quorum = host.run("corosync-quorumtool -s").stdout
            assert "Quorate:          Yes" in quorum, failure(client, "corosync quorum", "Quorate: Yes",
                                                              quorum.strip().splitlines()[-1:] or "no answer")


def test_written_on_one_client_read_at_once_on_the_others_and_served(block_share, cluster, remote):
    share = block_share
    clients = spec.mounting_clients(cluster, share)
    if not clients:
        pytest.skip("no real server mounts the share")
    mount = spec.block_mount(cluster, share).path
    token = uuid.uuid4().hex
    name = f"lvsdeploy-verify-{token}.txt"
    writer = remote(clients[0])
    writer.check_output(f"printf '%s' {token} > {mount}/{name} && chmod 0644 {mount}/{name}")
    try:
        for client in clients[1:]:
            host = remote(client)
            seen = wait_until(lambda host=host: host.run(f"timeout 10 cat {mount}/{name}").stdout == token,
                              MOUNT_WAIT)
            assert seen, failure(client, f"{mount}/{name}", f"the token written on {clients[0]}", "other content")
        mount_point = PurePosixPath(share.mount)
        services = [s for s in cluster.services if s.protocol == "tcp" and s.vip and s.port and s.realservers
                    and {r.host for r in s.realservers if r.weight > 0} <= set(clients)]
        if mount_point.is_relative_to(DOCUMENT_ROOT) and cluster.clients() and services:
            for service in services:
                _served_through_vip(cluster, remote, service, mount_point.relative_to(DOCUMENT_ROOT) / name, token)
    finally:
        writer.run(f"rm -f {mount}/{name}")
