"""iSCSI as the kernel and open-iscsi have it now: the LIO targets of a storage node (read from configfs, so
no targetcli and no D-Bus are needed to look), and the node records and sessions of an initiator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TARGET_ROOT = "/sys/kernel/config/target"

# One line per fact: "tpg IQN TPGT ENABLED AUTHENTICATION", "portal IQN TPGT IP:PORT", "acl IQN TPGT INITIATOR",
# "session IQN TPGT INITIATOR", "lun IQN TPGT LUN BACKSTORE" and "backstore BACKSTORE PATH", BACKSTORE being
# "iblock_0/NAME". A session line: the ACL's info file does not say "No active iSCSI Session" (an unreadable one
# counts as logged in, so that nothing is removed from under a client).
TARGET_SNIPPET = f"""t={TARGET_ROOT}
for g in "$t"/iscsi/*/tpgt_*; do
  [ -d "$g" ] || continue
  q=${{g%/tpgt_*}}; q=${{q##*/}}; n=${{g##*/tpgt_}}
  echo "tpg $q $n $(cat "$g/enable" 2>/dev/null) $(cat "$g/attrib/authentication" 2>/dev/null)"
  for x in "$g"/np/*; do [ -e "$x" ] && echo "portal $q $n ${{x##*/}}"; done
  for x in "$g"/acls/*; do
    [ -d "$x" ] || continue
    echo "acl $q $n ${{x##*/}}"
    case "$(head -n 1 "$x/info" 2>/dev/null)" in "No active iSCSI Session"*) ;; *) echo "session $q $n ${{x##*/}}";; esac
  done
  for l in "$g"/lun/lun_*; do
    for x in "$l"/*; do [ -L "$x" ] && b=$(readlink -f "$x") && echo "lun $q $n ${{l##*/lun_}} ${{b#$t/core/}}"; done
  done
done
for b in "$t"/core/*_*/*; do [ -f "$b/udev_path" ] && echo "backstore ${{b#$t/core/}} $(cat "$b/udev_path")"; done
true"""

# Node records (what logs in at boot, node.startup) and the sessions logged in now.
INITIATOR_SNIPPET = """for f in /etc/iscsi/nodes/*/*/default; do
  [ -f "$f" ] || continue
  d=${f%/default}; p=${d##*/}; q=${d%/*}; q=${q##*/}
  echo "node $q $p $(sed -n 's/^node.startup = //p' "$f")"
done
iscsiadm -m session 2>/dev/null | sed 's/^/session /'
true"""


@dataclass
class Tpg:
    enabled: bool = False
    chap: bool = False                                      # attrib/authentication: CHAP demanded of initiators
    portals: set[str] = field(default_factory=set)          # "10.20.0.5:3260"
    acls: set[str] = field(default_factory=set)             # initiator IQNs
    sessions: set[str] = field(default_factory=set)         # those of them logged in now
    luns: dict[int, str] = field(default_factory=dict)      # LUN number -> backstore "iblock_0/NAME"


@dataclass
class IscsiTargets:
    tpgs: dict[tuple[str, int], Tpg] = field(default_factory=dict)      # (target IQN, tpgt) -> its state
    backstores: dict[str, str] = field(default_factory=dict)           # "iblock_0/NAME" -> device or file

    def backstore_of(self, path: str) -> str | None:
        """The backstore ("fileio_1/NAME") exporting `path`, if any."""
        return next((name for name, dev in self.backstores.items() if dev == path), None)


@dataclass(frozen=True)
class IscsiNode:
    target: str
    portal: str        # "10.20.0.5:3260"
    startup: str       # "automatic" (logs in at boot) or "manual"


@dataclass
class IscsiInitiator:
    nodes: dict[tuple[str, str], IscsiNode] = field(default_factory=dict)   # (target, portal) -> record
    sessions: set[tuple[str, str]] = field(default_factory=set)             # (target, portal) logged in now


def parse_targets(text: str) -> IscsiTargets:
    found = IscsiTargets()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] in ("tpg", "portal", "acl", "session", "lun") and parts[2].isdigit():
            tpg = found.tpgs.setdefault((parts[1], int(parts[2])), Tpg())
            if parts[0] == "tpg":
                tpg.enabled = parts[3:4] == ["1"]
                tpg.chap = parts[4:5] == ["1"]
            elif parts[0] == "portal" and len(parts) == 4:
                tpg.portals.add(parts[3])
            elif parts[0] == "acl" and len(parts) == 4:
                tpg.acls.add(parts[3])
            elif parts[0] == "session" and len(parts) == 4:
                tpg.sessions.add(parts[3])
            elif parts[0] == "lun" and len(parts) == 5 and parts[3].isdigit():
                tpg.luns[int(parts[3])] = parts[4]
        elif len(parts) == 3 and parts[0] == "backstore":
            found.backstores[parts[1]] = parts[2]
    return found


def _portal(text: str) -> str:
    """"10.20.0.5:3260,1" (a session) or "10.20.0.5,3260,1" (a node record's directory) -> "10.20.0.5:3260"."""
    if ":" in text:
        return text.split(",", 1)[0]
    address, port = (text.split(",") + ["3260"])[:2]
    return f"{address}:{port}"


def parse_initiator(text: str) -> IscsiInitiator:
    found = IscsiInitiator()
    for line in text.splitlines():
        parts = line.split()
        if parts[:1] == ["node"] and len(parts) >= 3:
            target, portal = parts[1], _portal(parts[2])
            found.nodes[(target, portal)] = IscsiNode(target, portal, parts[3] if len(parts) > 3 else "")
        elif parts[:1] == ["session"] and len(parts) >= 5:
            # "session tcp: [1] 10.20.0.5:3260,1 iqn.2026-11.io.lvsdeploy:storage1.content (non-flash)"
            found.sessions.add((parts[4], _portal(parts[3])))
    return found
