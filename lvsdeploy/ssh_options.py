"""The OpenSSH command-line options lvsdeploy understands in `ansible_ssh_common_args` and
`ansible_ssh_extra_args`: the ones real inventories use to reach a host (a jump host, a proxy command, another
ssh_config file). Anything else is refused by name rather than silently ignored.
"""

from __future__ import annotations

import shlex

SUPPORTED = "-J HOST, -o ProxyJump=HOST, -o ProxyCommand=COMMAND, -F FILE"
# -o options that change how a host is reached, by their lowercase name -> our field
_O_OPTIONS = {"proxyjump": "proxy_jump", "proxycommand": "proxy_command"}


def parse_ssh_args(text: str) -> dict[str, str]:
    """"-o ProxyJump=bastion -F ~/.ssh/lab" -> {"proxy_jump": "bastion", "config_file": "~/.ssh/lab"};
    ValueError naming the option lvsdeploy does not support."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"cannot be split like a shell line ({exc})") from None
    found: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i]
        flag, inline = (word[:2], word[2:]) if word[:2] in ("-o", "-J", "-F") else (word, "")
        if flag in ("-o", "-J", "-F"):
            value = inline or (words[i + 1] if i + 1 < len(words) else "")
            i += 1 if inline else 2
            if not value:
                raise ValueError(f"{flag} needs a value")
            # as OpenSSH does, the first value of an option wins
            if flag == "-J":
                found.setdefault("proxy_jump", value)
            elif flag == "-F":
                found.setdefault("config_file", value)
            else:
                key, sep, option_value = value.partition("=")
                if not sep:
                    key, _, option_value = value.partition(" ")
                field = _O_OPTIONS.get(key.strip().lower())
                if field is None or not option_value.strip():
                    raise ValueError(f"-o {value}: lvsdeploy does not support it (supported: {SUPPORTED})")
                found.setdefault(field, option_value.strip())
        else:
            raise ValueError(f"{word}: lvsdeploy does not support it (supported: {SUPPORTED})")
    return found
