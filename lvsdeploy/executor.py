"""SSH to the hosts, the way OpenSSH and Ansible reach them: facts are one remote script, an apply is one more.

Connections are made with fabric over paramiko. What the inventory leaves out comes from the ssh_config file
(`-F` of ansible_ssh_common_args, else ~/.ssh/config and /etc/ssh/ssh_config): Host aliases, HostName, User,
Port, IdentityFile, ProxyJump, ProxyCommand; keys come from the key file, else the agent and the default keys.
Host keys are checked on every hop, jump hosts included, against known_hosts files; an unknown or changed key
is refused and nothing is ever added to a known_hosts file.

Every script runs as root: directly when the login user is root, else through `sudo -n` (ansible_become).
The apply script runs detached from the SSH session (its own session, output to files under /run/lvsdeploy),
holding the host's lock: a dropped connection or a killed lvsdeploy never leaves it half done.
"""

from __future__ import annotations

import getpass
import os
import shlex
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko
from fabric import Config, Connection

from .model import Host

CONNECT_TIMEOUT = 20          # seconds to set up each SSH hop
APPLY_TIME_LIMIT = 1800       # seconds an apply script may run on one host before it is ended
LOCK_WAIT = 300               # seconds an apply waits for another apply on the same host to finish
FACTS_TIMEOUT = 300           # seconds of silence after which reading facts is given up
DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
GLOBAL_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")

# Exit statuses our wrappers use to say what went wrong before the script itself ran.
EXIT_NOT_ROOT, EXIT_LOCKED, EXIT_TIMED_OUT = 97, 75, 124
TIMED_OUT_TEXT = "ran past its time limit"   # what the wrapper says when `timeout` ended the script
# The effective uid from /proc/self/status with shell built-ins (`id` would cost a process every round trip).
ROOT_CHECK = ('_e=; while read -r _k _r _e _x; do [ "$_k" = Uid: ] && break; done 2>/dev/null < /proc/self/status; '
              '[ -n "$_e" ] || _e=$(id -u); '   # no /proc (a chroot): ask id
              '[ "$_e" = 0 ] || { echo "lvsdeploy: running as $(id -un), not root" >&2; exit %d; }'
              % EXIT_NOT_ROOT)

# The apply wrapper, run by `sh -c` with the script on stdin and its settings as arguments. It writes the
# script to a file and starts it in a session of its own: under the host lock (flock; the lock's descriptor is
# closed for the script, so what the script leaves running cannot keep the host locked) and under `timeout`,
# which ends the script's whole process group at the time limit (the clock starts once the lock is held).
# This SSH session only waits for it: if the session dies, the script goes on to the end.
APPLY_WRAPPER = r"""
set -u
limit=$1 lockwait=$2 holder=$3 dir=$4
fail() { echo "lvsdeploy: $1" >&2; exit 70; }
mkdir -p "$dir" && chmod 0700 "$dir" || fail "cannot make $dir"
job=$(mktemp "$dir/apply.XXXXXX") || fail "cannot make a file in $dir"
cat > "$job" || fail "cannot write $job"
setsid sh -c '
  job=$1 lockwait=$2 holder=$3 dir=$4 limit=$5
  exec 9>>"$dir/lock" || { echo "lvsdeploy: cannot open $dir/lock" >&2; echo 70 > "$job.rc"; exit 0; }
  if ! flock -w "$lockwait" 9; then
    echo "lvsdeploy: another apply holds this host: $(cat "$dir/holder" 2>/dev/null || echo unknown)" >&2
    echo 75 > "$job.rc"; exit 0
  fi
  printf "%s\n" "$holder" > "$dir/holder"
  timeout --verbose -k 5 "$limit" sh "$job" 9>&- > "$job.out" 2> "$job.err"
  rc=$?
  if [ "$rc" = 124 ] && grep -q "^timeout: sending signal" "$job.err"; then
    echo "lvsdeploy: the apply script ran past its time limit of $limit s and was ended" >> "$job.err"
  fi
  echo "$rc" > "$job.rc.new" && mv "$job.rc.new" "$job.rc"
' lvsdeploy-apply "$job" "$lockwait" "$holder" "$dir" "$limit" < /dev/null > /dev/null 2> "$job.lockerr" &
wait "$!"
cat "$job.out" 2> /dev/null
cat "$job.lockerr" "$job.err" >&2 2> /dev/null
if [ -e "$job.rc" ]; then rc=$(cat "$job.rc"); else
  echo "lvsdeploy: the apply script ended without a status (was it killed?)" >&2; rc=125; fi
rm -f "$job" "$job.out" "$job.err" "$job.lockerr" "$job.rc"
exit "$rc"
"""


RUN_DIR = "/run/lvsdeploy"   # the host's lock, its holder, and the running apply's files (tmpfs: gone at boot)


def apply_command(holder: str, time_limit: float, lock_wait: float, run_dir: str = RUN_DIR) -> str:
    """The shell command that runs the script it reads on stdin as the detached, locked apply."""
    return " ".join(shlex.quote(a) for a in ("sh", "-c", APPLY_WRAPPER, "lvsdeploy", str(int(time_limit)),
                                             str(int(lock_wait)), holder, run_dir))


class RemoteError(Exception):
    """SSH itself failed (unreachable, refused host key, authentication), or the host refused to run as root."""


@dataclass
class RemoteResult:
    exit_status: int
    stdout: str
    stderr: str


@dataclass
class HostSession:
    host: Host
    connection: Connection
    round_trips: int = 0

    def _as_root(self, command: str) -> str:
        """`command` run as root: as it is for root, through sudo -n (never a password prompt) with become."""
        if self.host.connection.become and self.connection.user != "root":
            return f"sudo -n -- {command}"
        return command

    def _exec(self, command: str, stdin: str, timeout: float) -> RemoteResult:
        try:
            channel_in, out, err = self.connection.client.exec_command(command, timeout=timeout)
            channel_in.write(stdin)
            channel_in.channel.shutdown_write()
            stdout = out.read().decode(errors="replace")
            stderr = err.read().decode(errors="replace")
            status = out.channel.recv_exit_status()
        except (paramiko.SSHException, OSError) as exc:
            raise RemoteError(f"{self.host.name}: SSH failed while running a script: {exc or type(exc).__name__}") \
                from None
        finally:
            self.round_trips += 1
        self._raise_for_root(status, stderr)
        return RemoteResult(status, stdout, stderr)

    def _raise_for_root(self, status: int, stderr: str) -> None:
        name, user = self.host.name, self.connection.user
        if "a password is required" in stderr or "a terminal is required" in stderr:
            raise RemoteError(f"{name}: sudo asks {user} for a password; lvsdeploy needs passwordless sudo "
                              f"(NOPASSWD) for {user}, or a root login")
        if status == 127 and "sudo" in stderr and "not found" in stderr:
            raise RemoteError(f"{name}: ansible_become is set but sudo is not installed on the host")
        if status == EXIT_NOT_ROOT and "not root" in stderr:
            raise RemoteError(f"{name}: logged in as {user}, not root; set ansible_become: true (passwordless "
                              "sudo) or log in as root")

    def run_script(self, script: str, timeout: float = FACTS_TIMEOUT) -> RemoteResult:
        """A read-only POSIX sh script (facts) as root: one round trip whatever its length."""
        return self._exec(self._as_root("sh -s"), f"{ROOT_CHECK}\n{script}", timeout)

    def run_apply(self, script: str, holder: str, time_limit: float = APPLY_TIME_LIMIT,
                  lock_wait: float = LOCK_WAIT) -> RemoteResult:
        """The apply script, detached and under the host lock (one round trip). Exit 75: the lock was not
        free within lock_wait; 124: the time limit ended it."""
        wrapper = apply_command(holder, time_limit, lock_wait)
        return self._exec(self._as_root(wrapper), f"{ROOT_CHECK}\n{script}", time_limit + lock_wait + 60)

    def close(self) -> None:
        for hop in hops(self.connection):
            hop.close()


# ---- connecting --------------------------------------------------------------------------------------------

def _config(host: Host) -> Config:
    """fabric's configuration: ssh_config from `-F FILE` alone, else the user's and the system's files."""
    if host.connection.ssh_config is not None:
        if not host.connection.ssh_config.is_file():
            raise RemoteError(f"{host.name}: ssh_config file {host.connection.ssh_config} (-F) does not exist")
        return Config(runtime_ssh_path=str(host.connection.ssh_config))
    return Config()


def _known_hosts_files(host: Host, ssh_config: dict) -> list[Path]:
    """The inventory's lvs_known_hosts_file, else ssh_config's UserKnownHostsFile (or OpenSSH's defaults),
    plus the global files, as OpenSSH reads them."""
    if host.connection.known_hosts is not None:
        return [host.connection.known_hosts]
    user_files = ssh_config.get("userknownhostsfile", " ".join(DEFAULT_KNOWN_HOSTS)).split()
    global_files = ssh_config.get("globalknownhostsfile", " ".join(GLOBAL_KNOWN_HOSTS)).split()
    return [Path(f).expanduser() for f in user_files + global_files]


def _check_host_keys(host: Host, hop: Connection) -> None:
    """Refuse unknown keys on this hop (fabric would add them), with the known_hosts files OpenSSH would read."""
    hop.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    files = _known_hosts_files(host, hop.ssh_config)
    found = [f for f in files if f.is_file()]
    if not found:
        raise RemoteError(f"{host.name}: no known_hosts file for {hop.host} (looked for "
                          f"{', '.join(map(str, files))}); add the host's key after checking it, or set "
                          "lvs_known_hosts_file")
    for path in found:
        try:
            hop.client.get_host_keys().load(str(path))
        except (OSError, paramiko.SSHException) as exc:
            raise RemoteError(f"{host.name}: cannot read known_hosts file {path}: {exc}") from None


class _SessionProxyCommand(paramiko.ProxyCommand):
    """paramiko's ProxyCommand, started in a session of its own: the Ctrl-C that asks lvsdeploy to stop must not
    also kill the proxies of the hosts that are still applying."""

    def __init__(self, command_line: str):
        self.cmd = shlex.split(command_line)
        self.process = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, bufsize=0, start_new_session=True)
        self.timeout = None


class _Connection(Connection):
    """fabric's Connection, with a ProxyCommand gateway run by _SessionProxyCommand (tokens like %h and %p
    expanded as ssh_config does)."""

    def open_gateway(self):
        if isinstance(self.gateway, str):
            config = paramiko.SSHConfig.from_text(f"Host {self.host}\n    ProxyCommand {self.gateway}")
            return _SessionProxyCommand(config.lookup(self.host)["proxycommand"])
        return super().open_gateway()


def _auth(host: Host, jump: bool = False) -> dict:
    """The target with a key file: that key only (like IdentitiesOnly). Otherwise, and on jump hosts: ssh_config's
    IdentityFile, the agent and the default keys, as OpenSSH tries them (plus the key file, if any).
    Never key_filename=None: fabric fails on it."""
    if host.connection.key_file is None:
        return {}
    if jump:
        return {"key_filename": [str(host.connection.key_file)]}
    return {"key_filename": [str(host.connection.key_file)], "allow_agent": False, "look_for_keys": False}


def build_connection(host: Host, connect_timeout: float = CONNECT_TIMEOUT) -> Connection:
    """The fabric Connection for a host, its jump hosts chained in ProxyJump order, host keys enforced."""
    c = host.connection
    config = _config(host)
    kwargs: dict = {"config": config, "connect_timeout": connect_timeout, "connect_kwargs": _auth(host)}
    if c.user:
        kwargs["user"] = c.user
    if c.port:
        kwargs["port"] = c.port
    probe = Connection(c.host, **kwargs, gateway=False)  # only to read the host's ssh_config
    if c.proxy_jump or c.proxy_command:   # the inventory's options, like ssh's command line, beat ssh_config
        jump, command = c.proxy_jump, None if c.proxy_jump else c.proxy_command
    else:
        jump, command = probe.ssh_config.get("proxyjump"), probe.ssh_config.get("proxycommand")
    gateway: Connection | str | bool = False
    if jump and jump.lower() != "none":
        # OpenSSH visits the hops in order: the first is reached directly (or as its own ssh_config says),
        # each next one through the one before.
        for hop in jump.split(","):
            gateway = _Connection(hop.strip(), config=config, connect_timeout=connect_timeout,
                                  connect_kwargs=_auth(host, jump=True), gateway=gateway or None)
    elif command and command.lower() != "none":
        gateway = command
    connection = _Connection(c.host, **kwargs, gateway=gateway)
    for hop in hops(connection):
        _check_host_keys(host, hop)
    return connection


def hops(connection: Connection) -> list[Connection]:
    """The connection, then its jump hosts, the last one OpenSSH visits first, back to the first."""
    chain = []
    while isinstance(connection, Connection):
        chain.append(connection)
        connection = connection.gateway
    return chain


def connect(host: Host, connect_timeout: float = CONNECT_TIMEOUT) -> HostSession:
    try:
        connection = build_connection(host, connect_timeout)
        connection.open()
    except RemoteError:
        raise
    except paramiko.BadHostKeyException as exc:
        raise RemoteError(f"{host.name}: the host key of {exc.hostname} does not match known_hosts: refusing "
                          "(check the host, then fix known_hosts)") from None
    except paramiko.SSHException as exc:
        raise RemoteError(f"{host.name}: SSH to {_target(host)} failed: {exc}") from None
    except (OSError, EOFError) as exc:
        raise RemoteError(f"{host.name}: cannot reach {_target(host)}: {exc or type(exc).__name__}") from None
    return HostSession(host, connection)


def _target(host: Host) -> str:
    c = host.connection
    return f"{c.user + '@' if c.user else ''}{c.host}{':' + str(c.port) if c.port else ''}"


def holder_text() -> str:
    """Who holds a host's lock, as a second apply reports it: user, machine, process, start time."""
    return (f"lvsdeploy pid {os.getpid()} of {getpass.getuser()}@{socket.gethostname()} since "
            f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}")


# ---- the same connections for OpenSSH (verify's testinfra runs `ssh -F`) -------------------------------------

def _quoted(value: str) -> str:
    """An ssh_config argument: double-quoted (inventory values never hold '"' or control characters)."""
    if '"' in value or any(ord(ch) < 32 for ch in value):
        raise RemoteError(f"cannot write {value!r} into an ssh_config file")
    return f'"{value}"'


def _ssh_block(alias: str, hop: Connection, host: Host, proxy: str | None) -> list[str]:
    lines = [f"Host {alias}", f"  HostName {hop.host}", f"  Port {hop.port}", f"  User {hop.user}",
             "  BatchMode yes", "  StrictHostKeyChecking yes", "  LogLevel ERROR",
             "  UserKnownHostsFile " + " ".join(_quoted(str(f)) for f in _known_hosts_files(host, hop.ssh_config)),
             "  GlobalKnownHostsFile /dev/null"]
    keys = hop.connect_kwargs.get("key_filename") or []
    lines += [f"  IdentityFile {_quoted(str(k))}" for k in keys]
    if hop.connect_kwargs.get("allow_agent") is False:
        lines.append("  IdentitiesOnly yes")
    if proxy:
        lines.append(proxy)
    return lines


def ssh_config_text(hosts: list[Host]) -> str:
    """An ssh_config that reaches each inventory host (`Host NAME`) exactly as lvsdeploy does: resolved
    address, user and port, keys, jump hosts as their own blocks, host keys checked on every hop."""
    blocks = []
    for host in hosts:
        connection = build_connection(host)
        chain = hops(connection)[:0:-1]   # the jump hosts, the first one OpenSSH visits first
        last = chain[-1] if chain else connection
        proxy_command = last.gateway if isinstance(last.gateway, str) and last.gateway else None
        aliases = [f"lvsdeploy-jump-{host.name}-{i}" for i in range(len(chain))]
        for i, jump in enumerate(chain):
            blocks.append(_ssh_block(aliases[i], jump, host, f"  ProxyJump {aliases[i - 1]}" if i else None))
        proxy = f"  ProxyJump {aliases[-1]}" if aliases else (f"  ProxyCommand {proxy_command}" if proxy_command
                                                                 else None)
        blocks.append(_ssh_block(host.name, connection, host, proxy))
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"
