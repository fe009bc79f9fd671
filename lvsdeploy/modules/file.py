"""A file with exact content, mode and ownership, or no file at all.

Content travels base64-encoded inside the apply script, so any byte (NUL, no trailing newline, non-UTF-8)
arrives intact, and is written to a temporary file in the same directory, then renamed over the target:
a reader never sees half a file, and a failed write leaves the old one in place.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import posixpath
import re
from ipaddress import IPv4Interface

from lvsdeploy.modules.base import (SYSTEMD_STALE, Change, FactsRequest, ModuleError, check_args, choice, file_guard, q,
                                    systemd_reads)
from lvsdeploy.modules.ip_address import find_device

NAME = "file"

_ACCOUNT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$")


def _mode(value) -> str:
    """"0644" or "644" -> "0644". Numbers are refused: YAML reads an unquoted 0644 as 420 and 644 as 644,
    and no rule can tell which of the two the author meant."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-7]{3,4}", value):
        raise ModuleError(f"{NAME}: mode must be a quoted string of octal digits like \"0644\", got {value!r}")
    return value.zfill(4)


def _account(key: str, value) -> str:
    if not isinstance(value, str) or not _ACCOUNT.match(value):
        raise ModuleError(f"{NAME}: {key} must be a user/group name, got {value!r}")
    return value


def check_path(module: str, path) -> str:
    if not isinstance(path, str) or not path.startswith("/") or path == "/" or "\0" in path:
        raise ModuleError(f"{module}: path must be an absolute file path, got {path!r}")
    # normpath keeps a leading "//" (POSIX allows it a meaning); Linux does not, and prefix tests need one "/"
    return "/" + posixpath.normpath(path).lstrip("/")


def _args(args: dict) -> dict:
    check_args(NAME, args, ("path",), ("content", "mode", "owner", "group", "state", "validate", "devices"))
    state = choice(NAME, args, "state", ("present", "absent"), "present")
    content = args.get("content")
    if state == "present" and content is None:
        raise ModuleError(f"{NAME}: content is required when state is present")
    if content is not None and not isinstance(content, (str, bytes)):
        raise ModuleError(f"{NAME}: content must be text or bytes, got {type(content).__name__}")
    return {
        "path": check_path(NAME, args["path"]),
        "state": state,
        "content": content.encode() if isinstance(content, str) else content,
        "mode": _mode(args.get("mode", "0644")),
        "owner": _account("owner", args.get("owner", "root")),
        "group": _account("group", args.get("group", "root")),
        "validate": _validate(args.get("validate")),
        "devices": _devices(args.get("devices", False)),
    }


# "@lvsdeploy-device-of:10.20.0.2@" in a file's content (with `devices: true`): the host's interface for that
# address's network, found in its facts at plan time (lvsdeploy/failover.py writes them into keepalived.conf)
DEVICE_TOKEN = re.compile(rb"@lvsdeploy-device-of:([0-9.]+)@")


def _with_devices(path: str, content: bytes, facts) -> bytes:
    def device(match) -> bytes:
        address = match.group(1).decode()
        try:
            return find_device(IPv4Interface(f"{address}/32"), facts).encode()
        except ModuleError:
            raise ModuleError(f"{NAME}: {path} names the interface of {address}, but no interface other than lo "
                              f"has an address in its network; name it in the inventory (lvs_dip_interface, "
                              "lvs_vip_interface, lvs_failover.interface)") from None
    return DEVICE_TOKEN.sub(device, content)


def _devices(value) -> bool:
    if not isinstance(value, bool):
        raise ModuleError(f"{NAME}: devices must be true or false, got {value!r}")
    return value


def _validate(command) -> str | None:
    """Ansible's `validate`: a command (from a role, never from the inventory) run on the new content before it
    replaces the old, with %s standing for the new file."""
    if command is None:
        return None
    if not isinstance(command, str) or command.count("%s") != 1:
        raise ModuleError(f"{NAME}: validate must be a command with one %s for the new file, got {command!r}")
    return command


def facts_needed(args: dict) -> FactsRequest:
    return FactsRequest(files={_args(args)["path"]})


def _text(data: bytes) -> str | None:
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def content_diff(path: str, old: bytes | None, new: bytes | None) -> list[str]:
    """Unified diff lines for text; a one-line summary for binary content."""
    old_text, new_text = _text(old or b""), _text(new or b"")
    if old_text is None or new_text is None:

        def summary(data):
            return "<none>" if data is None else f"{len(data)} bytes sha256:{hashlib.sha256(data).hexdigest()[:12]}"

        return [f"~ binary content {summary(old)} -> {summary(new)}"]
    return list(
        difflib.unified_diff(old_text.splitlines(), new_text.splitlines(), fromfile=path, tofile=path, lineterm="")
    )


def write_commands(path: str, content: bytes, mode: str, owner: str, group: str,
                   validate: str | None = None) -> tuple[str, ...]:
    """Atomic write: temp file beside the target (same filesystem, so `mv` is a rename), then rename; then,
    for a file systemd reads (a unit, /etc/fstab), systemd marked stale. With `validate`, the temp file must pass
    that command first; if it fails, the old file stays and the script stops there."""
    encoded = base64.b64encode(content).decode()
    check = ()
    if validate:
        shown = q(f"lvsdeploy: {path}: the new content fails `{validate.replace('%s', 'FILE')}`; the old file is "
                  "kept and nothing after it is changed")
        test = validate.replace("%s", '"$lvs_tmp"')
        check = (f"if ! ( {test} ); then rm -f \"$lvs_tmp\"; echo {shown} >&2; "
                 "exit 1; fi",)
    return (
        f"mkdir -p -- {q(posixpath.dirname(path))}",
        f"lvs_tmp=$(mktemp {q(posixpath.join(posixpath.dirname(path), '.lvsdeploy.XXXXXX'))})",
        f"printf '%s' '{encoded}' | base64 -d > \"$lvs_tmp\"",
        f"chown {q(f'{owner}:{group}')} \"$lvs_tmp\"",
        f"chmod {mode} \"$lvs_tmp\"",
        *check,
        f"mv -f -- \"$lvs_tmp\" {q(path)}",
        *_systemd_stale_after(path),
    )


def _systemd_stale_after(path: str) -> tuple[str, ...]:
    return (SYSTEMD_STALE,) if systemd_reads(path) else ()


def plan(args: dict, facts) -> list[Change]:
    a = _args(args)
    path = a["path"]
    fact = facts.files.get(path)
    if fact is None:
        raise ModuleError(f"{NAME}: no facts were read for {path} (facts_needed was not merged)")
    if a["devices"] and a["content"] is not None:
        a["content"] = _with_devices(path, a["content"], facts)
    if fact.exists and fact.kind not in ("file", None):
        raise ModuleError(
            f"{NAME}: {path} exists and is a {fact.kind}, not a regular file; remove it or pick another path"
        )
    resource = f"file {path}"

    if a["state"] == "absent":
        if not fact.exists:
            return []
        return [Change(resource, tuple(content_diff(path, fact.content, b"")) + ("- file",),
                       (f"rm -f -- {q(path)}", *_systemd_stale_after(path)), guards=file_guard(path, fact))]

    meta = [
        f"~ {what} {getattr(fact, what)} -> {a[what]}"
        for what in ("mode", "owner", "group")
        if fact.exists and getattr(fact, what) != a[what]
    ]
    if not fact.exists or fact.content != a["content"]:
        diff = content_diff(path, fact.content if fact.exists else None, a["content"])
        if not diff:  # a new empty file, an unreadable one, or a difference in line endings only
            diff = ["+ empty file"] if not fact.exists else ["~ content differs (line endings or final newline)"]
        commands = write_commands(path, a["content"], a["mode"], a["owner"], a["group"], a["validate"])
        return [Change(resource, tuple(diff + meta), commands, guards=file_guard(path, fact))]
    if not meta:
        return []
    commands = []
    if fact.owner != a["owner"] or fact.group != a["group"]:
        commands.append(f"chown {q(a['owner'] + ':' + a['group'])} {q(path)}")
    if fact.mode != a["mode"]:
        commands.append(f"chmod {a['mode']} {q(path)}")
    return [Change(resource, tuple(meta), tuple(commands))]
