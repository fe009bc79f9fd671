"""ssh_options.py: the OpenSSH options of ansible_ssh_common_args/_extra_args lvsdeploy understands, and the
refusal, by name, of every other one (silently ignoring one would reach the host another way than asked)."""

import pytest

from lvsdeploy.ssh_options import parse_ssh_args


@pytest.mark.parametrize("text, expected", [
    ("-o ProxyJump=admin@bastion:2222", {"proxy_jump": "admin@bastion:2222"}),
    ("-oProxyJump=bastion", {"proxy_jump": "bastion"}),
    ("-o 'ProxyJump bastion'", {"proxy_jump": "bastion"}),
    ("-J a,b", {"proxy_jump": "a,b"}),
    ("-Jbastion", {"proxy_jump": "bastion"}),
    ("-o 'ProxyCommand=ssh -W %h:%p jump'", {"proxy_command": "ssh -W %h:%p jump"}),
    ("-F ~/.ssh/lab_config -o proxyjump=j", {"config_file": "~/.ssh/lab_config", "proxy_jump": "j"}),
    ("", {}),
])
def test_supported_options(text, expected):
    assert parse_ssh_args(text) == expected


@pytest.mark.parametrize("text, message", [
    ("-o StrictHostKeyChecking=no", "StrictHostKeyChecking=no: lvsdeploy does not support it"),
    ("-o UserKnownHostsFile=/dev/null", "does not support it"),
    ("-v", "-v: lvsdeploy does not support it"),
    ("-o", "-o needs a value"),
    ("-J", "-J needs a value"),
    ("-o ProxyJump=", "does not support it"),
    ("-o 'ProxyJump=a", "cannot be split like a shell line"),
    ("bastion", "bastion: lvsdeploy does not support it"),
])
def test_other_options_are_refused_by_name(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_ssh_args(text)
