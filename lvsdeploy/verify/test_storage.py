"""Shared storage, per share: the storage node runs the NFS server and exports the directory to exactly the
share's clients (their addresses, /32; nobody else); every client has it in fstab and mounted with the
inventory's options; a file written on the storage node is served through the VIP by every real server.
gfs2/ocfs2 shares have their own tests (test_block_storage.py); the fstab and mount test is shared.

After a boot a share comes back on its own (a background mount retrying until its server answers), so the
mount and read checks wait up to LVSDEPLOY_VERIFY_MOUNT_WAIT seconds (180) before failing."""

import os
import uuid
from dataclasses import replace
from pathlib import PurePosixPath

import pytest

from . import spec
from .checks import (connection_counts, counting_director, counts_after, failure, fstab_entries, in_rotation,
                     live_mounts, mount_matches, nfs_exports, spreads_one_client, wait_until)
from .conftest import _cluster

MOUNT_WAIT = float(os.environ.get("LVSDEPLOY_VERIFY_MOUNT_WAIT", "180"))
DOCUMENT_ROOT = PurePosixPath(os.environ.get("LVSDEPLOY_VERIFY_DOCUMENT_ROOT", "/var/www/html"))
REQUESTS_PER_SERVER = int(os.environ.get("LVSDEPLOY_VERIFY_REQUESTS", "10"))


def pytest_generate_tests(metafunc):
    if "share" not in metafunc.fixturenames:
        return
    shares = _cluster(metafunc.config).shares
    if shares:
        metafunc.parametrize("share", shares, ids=[s.name for s in shares])
    else:
        skip = pytest.mark.skip(reason="the inventory has no shares (lvs_shared_storage)")
        metafunc.parametrize("share", [pytest.param(None, marks=skip)], ids=["no-shares"])


def _nfs_only(share) -> None:
    if share.type in spec.BLOCK_TYPES:
        pytest.skip(f"a {share.type} share: see test_block_storage.py")


def _mounted(host, wanted: spec.ShareMount):
    """The live mount on the share's mount point if it is the wanted one, else None (after waiting). A device
    named by a /dev/disk/by-* link shows in the mount table as the device it points to."""
    if wanted.src.startswith("/dev/"):
        wanted = replace(wanted, src=host.run(f"readlink -f {wanted.src}").stdout.strip() or wanted.src)

    def probe():
        live = [m for m in live_mounts(host) if m.path.rstrip("/") == wanted.path]
        return live[-1] if live and mount_matches(wanted, live[-1]) else None
    return wait_until(probe, MOUNT_WAIT)


def test_nfs_server_running_and_enabled(share, cluster, remote):
    _nfs_only(share)
    host = remote(share.server)
    service = host.service(spec.NFS_SERVER_UNIT)
    assert service.is_running, failure(share.server, spec.NFS_SERVER_UNIT, "running", "not running")
    assert service.is_enabled, failure(share.server, spec.NFS_SERVER_UNIT, "enabled at boot", "not enabled")
    export = spec.share_export(cluster, share).path
    assert host.file(export).is_directory, failure(share.server, f"share {share.name}", f"directory {export}",
                                                   "no directory")


def test_exported_to_its_clients_only(share, cluster, remote):
    _nfs_only(share)
    export = spec.share_export(cluster, share)
    assert export.clients, failure(share.server, f"share {share.name}", "at least one client address", "none")
    host = remote(share.server)
    exported = wait_until(lambda: nfs_exports(host).get(export.path), MOUNT_WAIT) or {}
    assert set(exported) == export.clients, failure(
        share.server, f"export {export.path} clients", sorted(export.clients), sorted(exported) or "not exported")
    for client, options in exported.items():
        assert export.options <= options, failure(share.server, f"export {export.path} to {client}",
                                                  f"options {sorted(export.options)}",
                                                  f"missing {sorted(export.options - options)}")
    saved = host.file(spec.EXPORTS_FILE).content_string
    assert any(line.split()[:1] == [export.path] for line in saved.splitlines()), failure(
        share.server, spec.EXPORTS_FILE, f"a line for {export.path} (kept for the next boot)", "none")


def test_mounted_on_every_client(share, cluster, remote):
    clients = spec.mounting_clients(cluster, share)
    if not clients:
        pytest.skip("no real server among the share's clients")
    wanted = spec.share_mount(cluster, share)
    line = f"{wanted.src} {wanted.path} {wanted.fstype} {wanted.opts} 0 0 {spec.FSTAB_MARK}"
    for client in clients:
        host = remote(client)
        fstab = host.file(spec.FSTAB).content_string
        ours = [e for e in fstab_entries(fstab) if e[1] == wanted.path]
        assert ours == [(wanted.src, wanted.path, wanted.fstype, wanted.opts, True)], failure(
            client, f"{spec.FSTAB} for share {share.name}", f"one line like {line!r}",
            [entry for entry in fstab.splitlines() if wanted.path in entry] or "no line")
        live = _mounted(host, wanted)
        found = [f"{m.src} {m.fstype} ({m.opts})" for m in live_mounts(host) if m.path.rstrip("/") == wanted.path]
        assert live, failure(client, f"mount {wanted.path}",
                             f"{wanted.src} ({wanted.opts}) within {MOUNT_WAIT:.0f} s", found or "not mounted")


def test_file_on_storage_served_through_vip_by_every_realserver(share, cluster, remote):
    _nfs_only(share)
    mount_point = PurePosixPath(share.mount)
    if not mount_point.is_relative_to(DOCUMENT_ROOT):
        pytest.skip(f"{mount_point} is not under the web root {DOCUMENT_ROOT}: not reachable over HTTP")
    if not cluster.clients() or not cluster.directors():
        pytest.skip("needs a host in group clients and a director")
    clients = set(spec.mounting_clients(cluster, share))
    services = [s for s in cluster.services if s.protocol == "tcp" and s.vip and s.port and s.realservers
                and {r.host for r in s.realservers if r.weight > 0} <= clients]
    if not services:
        pytest.skip(f"no TCP service with a VIP whose real servers (weight > 0) all mount share {share.name}")

    token = uuid.uuid4().hex
    name = f"lvsdeploy-verify-{token}.txt"
    on_storage = f"{spec.share_export(cluster, share).path}/{name}"
    storage = remote(share.server)
    storage.check_output(f"printf '%s' {token} > {on_storage} && chmod 0644 {on_storage}")
    try:
        # Every real server reads it over NFS first: right after the storage node boots, NFSv4 refuses new
        # opens for its grace period (90 s), and a web request would time out meanwhile.
        for rs in sorted(clients):
            path = f"{spec.share_mount(cluster, share).path}/{name}"
            host = remote(rs)
            seen = wait_until(lambda host=host, path=path: host.run(f"timeout 10 cat {path}").stdout == token,
                              MOUNT_WAIT)
            assert seen, failure(rs, f"{path} over NFS", f"the token written on {share.server}",
                                 host.run(f"timeout 10 cat {path}").stderr.strip() or "other content")
        for service in services:
            _served_through_vip(cluster, remote, service, mount_point.relative_to(DOCUMENT_ROOT) / name, token)
    finally:
        storage.run(f"rm -f {on_storage}")


def _served_through_vip(cluster, remote, service, relative: PurePosixPath, token: str) -> None:
    client_name = cluster.clients()[0].name
    counter = counting_director(cluster, remote, str(service.vip)).name
    client, lb = remote(client_name), remote(counter)
    live = {f"{cluster.hosts[r.host].rip.ip}:{r.port}": r.host for r in service.realservers if r.weight > 0}
    rotation = in_rotation(lb, cluster, service, live)   # not the ones a checker took out
    live = {dest: host for dest, host in live.items() if dest in rotation}
    if not live:
        pytest.skip(f"{service.name}: every real server is out of rotation (see 'down by health check')")
    requests = REQUESTS_PER_SERVER * len(live)
    url = f"http://{service.vip}:{service.port}/{relative}"
    before = connection_counts(lb, str(service.vip), service.port, service.protocol, service.fwmark)
    out = client.check_output(f"for i in $(seq {requests}); do curl -s --max-time 5 {url}; echo; done")
    after = counts_after(lb, str(service.vip), service.port, service.protocol, before, requests, service.fwmark)
    answered = out.split().count(token)
    if answered != requests:
        # Which real server does not serve it: ask each one directly from the director (it reaches every RIP).
        wrong = [rs for dest, rs in live.items()
                 if lb.run(f"curl -s --max-time 5 http://{dest}/{relative}").stdout != token]
        assert False, failure(client_name, f"GET {url}", f"the token in all {requests} answers",
                              f"{answered}; real servers not serving it: {wrong or 'none when asked directly'}")
    delta = {dest: after.get(dest, 0) - before.get(dest, 0) for dest in live}
    unreached = [live[d] for d, n in delta.items() if n <= 0]
    # every real server served it, asked directly or not: only a spreading scheduler shows it through the VIP
    assert not unreached or not spreads_one_client(service), failure(
        counter, f"{service.name} spread of {url}", "every real server reached", delta)
