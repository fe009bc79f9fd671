"""How lvsdeploy will reach a host, resolved without connecting: ssh_config aliases and files (-F), ProxyJump
in OpenSSH's order, key files, host-key checking on every hop, and the same resolution written as an
ssh_config for verify's `ssh -F`. The connections themselves are proven on the lab (tests/lab)."""

from pathlib import Path
from textwrap import dedent

import paramiko
import pytest

from lvsdeploy.executor import RemoteError, build_connection, ssh_config_text
from lvsdeploy.inventory import load_cluster

SSH_CONFIG = """\
    Host web1
      HostName 127.0.0.1
      Port 2201
      User deploy
    Host bastion
      HostName 127.0.0.1
      Port 2200
      User jump
    Host inner
      HostName 10.9.0.1
"""


def inventory(tmp_path: Path, hosts: str, extra_vars: str = "") -> dict:
    (tmp_path / "ssh_config").write_text(dedent(SSH_CONFIG))
    (tmp_path / "known_hosts").write_text("")
    (tmp_path / "inv.yml").write_text(dedent("""\
        all:
          vars:
            lvs_known_hosts_file: known_hosts
            ansible_ssh_common_args: "-F ssh_config"
        """) + extra_vars + "  children:\n    realservers:\n      hosts:\n" + hosts)
    return load_cluster(tmp_path / "inv.yml").hosts


def test_an_alias_of_the_ssh_config_file_gives_address_user_and_port(tmp_path):
    hosts = inventory(tmp_path, "        web1: {lvs_rip: 10.20.0.11/24}\n")
    conn = build_connection(hosts["web1"])
    assert (conn.host, conn.port, conn.user) == ("127.0.0.1", 2201, "deploy")
    assert conn.gateway is False
    # no key file: the agent and the default keys, never key_filename=None (fabric fails on it)
    assert "key_filename" not in conn.connect_kwargs


def test_inventory_values_win_over_the_ssh_config(tmp_path):
    hosts = inventory(tmp_path, "        web1: {lvs_rip: 10.20.0.11/24, ansible_user: ops, ansible_port: 2222}\n")
    conn = build_connection(hosts["web1"])
    assert (conn.host, conn.port, conn.user) == ("127.0.0.1", 2222, "ops")


def test_proxy_jump_hops_are_chained_in_openssh_order_with_host_keys_checked(tmp_path):
    hosts = inventory(tmp_path, "        rs2: {ansible_host: 10.20.0.12, lvs_rip: 10.20.0.12/24, "
                                "ansible_ssh_extra_args: '-J bastion,inner'}\n")
    conn = build_connection(hosts["rs2"])
    last, first = conn.gateway, conn.gateway.gateway
    assert (last.host, first.host, first.port, first.user) == ("10.9.0.1", "127.0.0.1", 2200, "jump")
    for hop in (conn, last, first):
        assert isinstance(hop.client._policy, paramiko.RejectPolicy), "unknown host keys are refused on every hop"


def test_a_key_file_is_the_only_key_of_the_target(tmp_path):
    hosts = inventory(tmp_path, "        web1: {lvs_rip: 10.20.0.11/24, ansible_ssh_private_key_file: id_lab}\n")
    kwargs = build_connection(hosts["web1"]).connect_kwargs
    assert kwargs["key_filename"] == [str(tmp_path / "id_lab")]
    assert kwargs["allow_agent"] is False and kwargs["look_for_keys"] is False


def test_no_known_hosts_file_is_refused_before_connecting(tmp_path):
    hosts = inventory(tmp_path, "        web1: {lvs_rip: 10.20.0.11/24, lvs_known_hosts_file: missing}\n")
    with pytest.raises(RemoteError, match="no known_hosts file for 127.0.0.1"):
        build_connection(hosts["web1"])


def test_a_missing_ssh_config_file_is_named(tmp_path):
    hosts = inventory(tmp_path, "        web1: {lvs_rip: 10.20.0.11/24, ansible_ssh_common_args: '-F nope'}\n")
    with pytest.raises(RemoteError, match="ssh_config file .*nope .*does not exist"):
        build_connection(hosts["web1"])


def test_verify_ssh_config_reaches_hosts_the_same_way(tmp_path):
    hosts = inventory(tmp_path, "        web1: {lvs_rip: 10.20.0.11/24}\n"
                                "        rs2: {ansible_host: 10.20.0.12, lvs_rip: 10.20.0.12/24, "
                                "ansible_ssh_extra_args: '-J bastion', ansible_user: ops}\n")
    text = ssh_config_text(list(hosts.values()))
    known = f'UserKnownHostsFile "{tmp_path}/known_hosts"'
    assert dedent(f"""\
        Host lvsdeploy-jump-rs2-0
          HostName 127.0.0.1
          Port 2200
          User jump
          BatchMode yes
          StrictHostKeyChecking yes
          LogLevel ERROR
          {known}
          GlobalKnownHostsFile /dev/null

        Host rs2
          HostName 10.20.0.12
          Port 22
          User ops
          BatchMode yes
          StrictHostKeyChecking yes
          LogLevel ERROR
          {known}
          GlobalKnownHostsFile /dev/null
          ProxyJump lvsdeploy-jump-rs2-0
        """) in text
    assert "Host web1\n  HostName 127.0.0.1\n  Port 2201\n  User deploy\n" in text


def test_the_inventory_proxy_command_beats_the_ssh_config_jump_host(tmp_path):
    config = "    Host web1\n      HostName 127.0.0.1\n      ProxyJump bastion\n"
    hosts = inventory(tmp_path, "        web1: {lvs_rip: 10.20.0.11/24, "
                                "ansible_ssh_extra_args: \"-o 'ProxyCommand=nc %h %p'\"}\n")
    (tmp_path / "ssh_config").write_text(dedent(config))
    hosts = load_cluster(tmp_path / "inv.yml").hosts
    assert build_connection(hosts["web1"]).gateway == "nc %h %p"


def test_a_proxy_command_runs_in_a_session_of_its_own(tmp_path):
    # the first Ctrl-C (SIGINT to lvsdeploy's process group) must not end the proxy of a host still applying
    import os
    from lvsdeploy.executor import _SessionProxyCommand
    proxy = _SessionProxyCommand("sleep 5")
    try:
        assert os.getsid(proxy.process.pid) == proxy.process.pid != os.getsid(0)
    finally:
        proxy.process.kill()
        proxy.process.wait()
