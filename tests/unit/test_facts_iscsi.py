"""facts/iscsi.py and facts/blockdev.py: what the readers' snippets print, turned into data (no host needed)."""

from lvsdeploy.facts.blockdev import devices_snippet, parse_devices
from lvsdeploy.facts.iscsi import parse_initiator, parse_targets

IQN = "iqn.2026-11.io.lvsdeploy:storage1.content"

TARGETS = f"""tpg {IQN} 1 1 0
portal {IQN} 1 10.20.0.5:3260
acl {IQN} 1 iqn.2026-11.io.lvsdeploy:rs1
acl {IQN} 1 iqn.2026-11.io.lvsdeploy:rs2
lun {IQN} 1 0 iblock_0/lvs_content
backstore iblock_0/lvs_content /dev/disk/by-id/virtio-lvs-lun0
backstore fileio_1/other /srv/luns/other.img
"""


def test_targets_from_configfs():
    found = parse_targets(TARGETS)
    tpg = found.tpgs[(IQN, 1)]
    assert tpg.enabled and not tpg.chap and tpg.portals == {"10.20.0.5:3260"}
    assert parse_targets(f"tpg {IQN} 1 0 1").tpgs[(IQN, 1)].chap
    assert tpg.acls == {"iqn.2026-11.io.lvsdeploy:rs1", "iqn.2026-11.io.lvsdeploy:rs2"}
    assert tpg.sessions == set()
    assert parse_targets(TARGETS + f"session {IQN} 1 iqn.2026-11.io.lvsdeploy:rs1").tpgs[(IQN, 1)].sessions == {
        "iqn.2026-11.io.lvsdeploy:rs1"}
    assert tpg.luns == {0: "iblock_0/lvs_content"}
    assert found.backstore_of("/srv/luns/other.img") == "fileio_1/other"
    assert found.backstore_of("/dev/vdc") is None


def test_no_target_at_all():
    found = parse_targets("")
    assert found.tpgs == {} and found.backstores == {}


def test_initiator_records_and_sessions():
    found = parse_initiator(f"""node {IQN} 10.20.0.5,3260,1 automatic
node iqn.2026-11.io.lvsdeploy:storage1.old 10.20.0.5,3260,1 manual
session tcp: [1] 10.20.0.5:3260,1 {IQN} (non-flash)
""")
    assert found.nodes[(IQN, "10.20.0.5:3260")].startup == "automatic"
    assert found.nodes[("iqn.2026-11.io.lvsdeploy:storage1.old", "10.20.0.5:3260")].startup == "manual"
    assert found.sessions == {(IQN, "10.20.0.5:3260")}


def test_blank_device_and_filesystem_and_missing():
    found = parse_devices("""device /dev/vdb
probed 2
device /dev/vdc
DEVNAME=/dev/vdc
UUID=5f1c
TYPE=gfs2
LABEL=lvs:content
probed 0
journals 2
device /dev/vdd
missing
device /dev/vde
PTTYPE=dos
probed 0
device /dev/vdf
probed 1
""")
    assert found["/dev/vdb"].blank
    assert found["/dev/vdc"].fstype == "gfs2" and not found["/dev/vdc"].blank and found["/dev/vdc"].journals == 2
    assert found["/dev/vdb"].journals is None
    assert found["/dev/vdc"].signature == {"UUID": "5f1c", "TYPE": "gfs2", "LABEL": "lvs:content"}
    assert not found["/dev/vdd"].exists and not found["/dev/vdd"].blank
    assert found["/dev/vde"].holds() == "a dos partition table" and not found["/dev/vde"].blank
    assert not found["/dev/vdf"].probed and not found["/dev/vdf"].blank   # could not open: never "blank"


def test_devices_snippet_quotes_every_path():
    snippet = devices_snippet({"/srv/a b.img"})
    assert "'/srv/a b.img'" in snippet and "blkid -p -o export" in snippet
    assert "gfs2_edit -p jindex '/srv/a b.img'" in snippet and "tunefs.ocfs2 -Q '%N' '/srv/a b.img'" in snippet
    assert devices_snippet(set()) == ""
