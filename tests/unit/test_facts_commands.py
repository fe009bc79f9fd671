"""`unless` tests: exit statuses keyed by the test text, including text that needs quoting."""

import subprocess

from lvsdeploy.facts.commands import parse_unless, unless_snippet


def test_exit_statuses_round_trip_through_sh():
    tests = {"true", "exit 3", "test \"$(echo 'a b')\" = 'a b'"}
    out = subprocess.run(["sh", "-c", unless_snippet(tests)], capture_output=True, text=True, check=True)
    assert parse_unless(out.stdout) == {"true": 0, "exit 3": 3, "test \"$(echo 'a b')\" = 'a b'": 0}
