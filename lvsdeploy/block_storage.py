"""gfs2 and ocfs2 shares: the names and variables of the iSCSI LUN each storage node exports, and of the
initiators, cluster stack and mounts of their clients. The one place that knows how a share becomes an IQN,
a device path on the clients, a lock table and a cluster's node list.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from .model import Cluster, Host, Share
from .modules.iscsi_logins import device_path

ISCSI_PORT = 3260
# a block share's mount options when the inventory gives none: after the network and iSCSI (_netdev), no
# access-time writes (each one is a cluster lock); the cluster stack is required by BLOCK_MOUNT_NEEDS
DEFAULT_BLOCK_MOUNT_OPTIONS = "rw,noatime,_netdev"
# systemd starts the cluster stack before the mount, and stops the mount before the stack
BLOCK_MOUNT_NEEDS = {"gfs2": "dlm.service", "ocfs2": "o2cb.service"}
# Debian's packages: the filesystem's tools (mkfs on the storage node), then its cluster stack (clients)
FILESYSTEM_PACKAGES = {"gfs2": ["gfs2-utils"], "ocfs2": ["ocfs2-tools"]}
STACK_PACKAGES = {"gfs2": ["gfs2-utils", "corosync", "dlm-controld"], "ocfs2": ["ocfs2-tools"]}


def _iqn_part(name: str) -> str:
    # IQNs are lowercase letters, digits, '-', '.' and ':' (RFC 3722 folds case)
    return name.lower().replace("_", "-")


def target_iqn(cluster: Cluster, share: Share) -> str:
    return f"{cluster.storage_cluster.iqn_prefix}:{_iqn_part(share.server)}.{_iqn_part(share.name)}"


def target_prefix(cluster: Cluster, server: str) -> str:
    """Every target lvsdeploy makes on `server` starts with this; purge touches no other."""
    return f"{cluster.storage_cluster.iqn_prefix}:{_iqn_part(server)}."


def initiator_name(cluster: Cluster, host: Host) -> str:
    return f"{cluster.storage_cluster.iqn_prefix}:{_iqn_part(host.name)}"


def portal(cluster: Cluster, share: Share) -> str:
    return f"{cluster.hosts[share.server].storage_ip.ip}:{ISCSI_PORT}"


def client_device(cluster: Cluster, share: Share) -> str:
    """The LUN's name on every client: udev's by-path link, the same on all of them."""
    return device_path(portal(cluster, share), target_iqn(cluster, share))


def journals(share: Share) -> int:
    return share.journals or max(1, len(share.clients or []))


def block_mount_options(share: Share) -> str:
    chosen = "export" not in share.options.model_fields_set and "mount" in share.options.model_fields_set
    opts = (share.options.mount if chosen else DEFAULT_BLOCK_MOUNT_OPTIONS).split(",")
    if "_netdev" not in opts:
        opts.append("_netdev")
    needs = f"x-systemd.requires={BLOCK_MOUNT_NEEDS[share.type]}"
    if needs not in opts:
        opts.append(needs)
    return ",".join(opts)


def block_mount(cluster: Cluster, share: Share) -> dict:
    return {"src": client_device(cluster, share), "path": posixpath.normpath(share.mount), "fstype": share.type,
            "opts": block_mount_options(share)}


def storage_vars(cluster: Cluster, host: Host) -> dict:
    """A storage node's LUNs: the filesystem made on each blank device, and its iSCSI target."""
    shares = [s for s in cluster.shares_on_server(host.name) if s.is_block]
    stack = cluster.storage_cluster
    return {
        "lvs_block_packages": sorted({p for s in shares for p in ["python3-rtslib-fb", *FILESYSTEM_PACKAGES[s.type]]}),
        "lvs_iscsi_target_prefix": target_prefix(cluster, host.name),
        "lvs_block_filesystems": [{"device": s.device, "fstype": s.type, "cluster": stack.name, "name": s.name,
                                   "journals": journals(s), **({"size": s.size} if s.size else {})} for s in shares],
        "lvs_iscsi_targets": [{"iqn": target_iqn(cluster, s), "backstore": f"lvs_{_iqn_part(s.name)}",
                               "device": s.device, "portal": portal(cluster, s),
                               "initiators": [initiator_name(cluster, cluster.hosts[c]) for c in s.clients or []],
                               **({"size": s.size} if s.size else {})} for s in shares],
    }


def cluster_nodes(cluster: Cluster, fstype: str) -> list[dict]:
    """Every host that mounts a share of `fstype`, numbered by name: corosync's or o2cb's node list."""
    from .desired import share_client_address   # the address a client reaches storage from
    names = sorted({c for s in cluster.shares if s.type == fstype for c in s.clients or [] if c in cluster.hosts})
    return [{"name": name, "id": i, "address": str(share_client_address(cluster.hosts[name]))}
            for i, name in enumerate(names, start=1)]


def client_vars(cluster: Cluster, host: Host) -> dict:
    """A client's iSCSI sessions and cluster stack; its mounts join the NFS ones in lvs_share_mounts."""
    shares = [s for s in cluster.shares_for_client(host.name) if s.is_block]
    stack = shares[0].type if shares else None   # validate: one stack per host
    return {
        "lvs_block_client_packages": (["open-iscsi", *STACK_PACKAGES[stack]] if stack else []),
        "lvs_iscsi_initiator": initiator_name(cluster, host),
        "lvs_iscsi_prefix": f"{cluster.storage_cluster.iqn_prefix}:",
        "lvs_iscsi_nodes": [{"target": target_iqn(cluster, s), "portal": portal(cluster, s)} for s in shares],
        "lvs_cluster_stack": stack,
        "lvs_cluster_name": cluster.storage_cluster.name,
        "lvs_cluster_nodes": cluster_nodes(cluster, stack) if stack else [],
        "lvs_cluster_key": cluster_key(cluster) if stack == "gfs2" else None,
    }


def cluster_key(cluster: Cluster) -> bytes | None:
    """corosync's authkey, read on this machine (validate has checked it is there and of a usable size)."""
    path = cluster.storage_cluster.key_file
    if path is None:
        return None
    return (cluster.source.parent / path).read_bytes() if not path.startswith("/") else Path(path).read_bytes()
