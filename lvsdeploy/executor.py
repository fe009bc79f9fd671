"""SSH to the hosts: gather facts (one remote command), apply (one remote script), re-read (one command).

Connections are made with fabric (configuration, keys) over paramiko. Host keys are checked against the
inventory's known_hosts file; an unknown key is refused. The script goes to `sh -s` on stdin through
paramiko's channel directly: it is closed for writing at once, so the remote shell sees EOF (fabric's
in_stream keeps stdin open and is slow for large input).
"""

from dataclasses import dataclass
from pathlib import Path

import paramiko
from fabric import Connection

from .model import Host

CONNECT_TIMEOUT = 20


class RemoteError(Exception):
    """SSH itself failed (unreachable, refused host key, authentication)."""


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

    def run_script(self, script: str, timeout: float = 900) -> RemoteResult:
        """Run a POSIX sh script as root on the host: one round trip whatever its length."""
        command = "sh -s"
        conn = self.host.connection
        if conn.become and conn.user != "root":
            command = "sudo -n sh -s"
        try:
            stdin, stdout, stderr = self.connection.client.exec_command(command, timeout=timeout)
            stdin.write(script)
            stdin.channel.shutdown_write()
            out = stdout.read().decode(errors="replace")
            err = stderr.read().decode(errors="replace")
            status = stdout.channel.recv_exit_status()
        except (paramiko.SSHException, OSError) as exc:
            raise RemoteError(f"{self.host.name}: SSH failed while running a script: {exc}") from None
        finally:
            self.round_trips += 1
        return RemoteResult(status, out, err)

    def close(self) -> None:
        self.connection.close()


def connect(host: Host) -> HostSession:
    conn = host.connection
    key_file = str(conn.key_file) if conn.key_file else None
    connection = Connection(
        host=conn.host, port=conn.port, user=conn.user,
        connect_timeout=CONNECT_TIMEOUT,
        connect_kwargs={"key_filename": key_file, "look_for_keys": key_file is None,
                        "allow_agent": key_file is None},
    )
    # Fabric trusts unknown host keys by default; we do not.
    connection.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    known_hosts = conn.known_hosts or Path("~/.ssh/known_hosts").expanduser()
    try:
        connection.client.get_host_keys().load(str(known_hosts))
    except FileNotFoundError:
        raise RemoteError(f"{host.name}: known_hosts file {known_hosts} does not exist "
                          f"(set lvs_known_hosts_file, or add the host's key with ssh-keyscan after checking it)") from None
    try:
        connection.open()
    except paramiko.SSHException as exc:
        raise RemoteError(f"{host.name}: SSH to {conn.user}@{conn.host}:{conn.port} failed: {exc}") from None
    except OSError as exc:
        raise RemoteError(f"{host.name}: cannot reach {conn.host}:{conn.port}: {exc}") from None
    return HostSession(host, connection)
