"""Files: existence, content (base64, so any byte survives the trip), mode, owner and group.

Paths travel base64-encoded in both directions, so names with spaces or newlines cannot break the
one-line-per-file format. Content is streamed with `base64 -w0` rather than held in a shell variable.
"""

from __future__ import annotations

import base64
import shlex

from lvsdeploy.facts import FileFact


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def files_snippet(paths) -> str:
    """One line per path, P being the base64 path:
    `file P MODE OWNER GROUP CONTENT`, `unreadable|directory|other P MODE OWNER GROUP`, or `absent P`."""
    lines = []
    for path in sorted(paths):
        p, tag = shlex.quote(path), _b64(path)
        stat = f"$(stat -L -c '%a %U %G' -- {p})"
        lines.append(
            f"if [ -f {p} ]; then if [ -r {p} ]; then printf 'file {tag} %s ' \"{stat}\"; base64 -w0 < {p}; echo; "
            f"else printf 'unreadable {tag} %s\\n' \"{stat}\"; fi; "
            f"elif [ -d {p} ]; then printf 'directory {tag} %s\\n' \"{stat}\"; "
            f"elif [ -e {p} ]; then printf 'other {tag} %s\\n' \"{stat}\"; "
            f"else echo 'absent {tag}'; fi"
        )
    return "\n".join(lines)


def parse_files(text: str) -> dict[str, FileFact]:
    files: dict[str, FileFact] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        kind, path = parts[0], base64.b64decode(parts[1]).decode()
        if kind == "absent":
            files[path] = FileFact(exists=False)
            continue
        mode, owner, group = (parts[2:5] + [None, None, None])[:3]
        content = None
        if kind == "file":
            content = base64.b64decode(parts[5]) if len(parts) > 5 else b""
        files[path] = FileFact(
            exists=True,
            content=content,
            mode=mode.zfill(4) if mode else None,
            owner=owner,
            group=group,
            kind="file" if kind in ("file", "unreadable") else kind,
        )
    return files
