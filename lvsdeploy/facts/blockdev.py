"""What a block device (or a LUN's backing file) holds now, as blkid's low-level probe sees it: the device
itself, not blkid's cache. This is what stands between lvsdeploy and a reformat: mkfs is planned only for a
device where the probe found nothing at all (no filesystem, no partition table, no RAID or LVM signature).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shlex import quote as q


@dataclass
class BlockDevice:
    exists: bool
    probed: bool = False        # blkid ran and answered (0: something found, 2: nothing found)
    signature: dict[str, str] = field(default_factory=dict)   # TYPE, UUID, LABEL, PTTYPE, ... as blkid says
    realpath: str | None = None   # what a /dev/disk/by-* link points to: the name /proc/self/mounts shows
    journals: int | None = None   # a gfs2's journals or an ocfs2's node slots, when the tools could count them

    @property
    def blank(self) -> bool:
        return self.exists and self.probed and not self.signature

    @property
    def fstype(self) -> str | None:
        return self.signature.get("TYPE")

    def holds(self) -> str:
        """What the probe found, for a message: "an ext4 filesystem", "a dos partition table"."""
        if "TYPE" in self.signature:
            return f"a {self.signature['TYPE']} filesystem"
        if "PTTYPE" in self.signature:
            return f"a {self.signature['PTTYPE']} partition table"
        return "data blkid names " + ", ".join(f"{k}={v}" for k, v in sorted(self.signature.items()))


def devices_snippet(paths: set[str]) -> str:
    lines = []
    for path in sorted(paths):
        lines.append(f"echo {q('device ' + path)}")
        lines.append(f"echo \"realpath $(readlink -f {q(path)})\"")
        lines.append(f"if [ -b {q(path)} ] || [ -f {q(path)} ]; then blkid -p -o export {q(path)} 2>/dev/null; "
                     "echo \"probed $?\"; else echo missing; fi")
        lines.append(_JOURNALS.format(dev=q(path)))
    return "\n".join(lines)


# A cluster filesystem's journals (gfs2: jindex's journalN files; ocfs2: its node slots), read from the device
# itself; a read, safe while clients have it mounted. gfs2_edit reads through the page cache, which LIO's writes
# for the clients bypass: flushed first, or a journal a client added would stay unseen. Nothing printed when the
# tools are missing.
_JOURNALS = ("case \"$(blkid -p -s TYPE -o value {dev} 2>/dev/null)\" in "
             "gfs2) command -v gfs2_edit >/dev/null && blockdev --flushbufs {dev} 2>/dev/null; "
             "command -v gfs2_edit >/dev/null && echo \"journals $(gfs2_edit -p jindex {dev} 2>/dev/null | "
             "grep -c 'File *journal[0-9]*$')\";; "
             "ocfs2) command -v tunefs.ocfs2 >/dev/null && echo \"journals $(tunefs.ocfs2 -Q '%N' {dev} 2>/dev/null)\";; "
             "esac")


def parse_devices(text: str) -> dict[str, BlockDevice]:
    found: dict[str, BlockDevice] = {}
    current: BlockDevice | None = None
    for line in text.splitlines():
        if line.startswith("device "):
            current = found[line[len("device "):]] = BlockDevice(exists=True)
        elif current is None:
            continue
        elif line.startswith("realpath "):
            current.realpath = line[len("realpath "):] or None
        elif line.startswith("journals "):
            count = line.split()[1:2]
            current.journals = int(count[0]) if count and count[0].isdigit() and int(count[0]) > 0 else None
        elif line == "missing":
            current.exists = False
        elif line.startswith("probed "):
            # blkid -p: 0 found something, 2 found nothing; anything else (1: cannot open) leaves it unknown
            code = line.split()[1]
            current.probed = code in ("0", "2")
            if code == "2":
                current.signature.clear()
        elif "=" in line:
            key, _, value = line.partition("=")
            if key != "DEVNAME":
                current.signature[key] = value
    return found
