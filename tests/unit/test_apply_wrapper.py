"""The apply wrapper (executor.APPLY_WRAPPER), run for real by this machine's sh with util-linux's setsid and
flock, as sshd would run it on a host: output and status pass through; a held lock makes a second apply wait,
then give up naming the holder; the time limit ends the script; and the script finishes even when the
session that started it is killed."""

import os
import signal
import subprocess
import time

import pytest

from lvsdeploy.executor import EXIT_LOCKED, EXIT_TIMED_OUT, apply_command


def run(run_dir, script: str, time_limit=30, lock_wait=5) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", apply_command("tester pid 1", time_limit, lock_wait, str(run_dir))],
                          input=script, capture_output=True, text=True, timeout=60)


def test_output_and_status_pass_through_and_nothing_is_left(tmp_path):
    result = run(tmp_path, "echo out; echo err >&2; exit 3\n")
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert sorted(os.listdir(tmp_path)) == ["holder", "lock"]
    assert (tmp_path / "holder").read_text() == "tester pid 1\n"


def test_a_held_lock_is_waited_for_then_named(tmp_path):
    (tmp_path / "holder").write_text("lvsdeploy pid 42 of ops@laptop\n")
    holder = subprocess.Popen(["flock", str(tmp_path / "lock"), "sleep", "4"])
    try:
        time.sleep(0.3)
        started = time.monotonic()
        result = run(tmp_path, "echo never\n", lock_wait=1)
        assert result.returncode == EXIT_LOCKED and result.stdout == ""
        assert "another apply holds this host: lvsdeploy pid 42 of ops@laptop" in result.stderr
        assert time.monotonic() - started >= 1
        # with a longer wait it runs once the holder is done
        assert run(tmp_path, "echo ran\n", lock_wait=10).stdout == "ran\n"
    finally:
        holder.wait()


def test_the_time_limit_ends_the_script_and_its_children(tmp_path):
    marker = tmp_path / "child-survived"
    result = run(tmp_path, f"(sleep 4; touch {marker}) & sleep 30\n", time_limit=1)
    assert result.returncode == EXIT_TIMED_OUT and "ran past its time limit of 1 s" in result.stderr
    time.sleep(4.5)
    assert not marker.exists(), "the script's whole process group is ended"


def test_the_script_finishes_when_the_session_is_killed(tmp_path):
    marker = tmp_path / "finished"
    session = subprocess.Popen(["sh", "-c", apply_command("tester", 30, 5, str(tmp_path))], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    session.stdin.write(f"sleep 2; echo done > {marker}\n".encode())
    session.stdin.close()
    time.sleep(0.8)
    os.killpg(session.pid, signal.SIGKILL)     # what a dropped connection or a killed lvsdeploy does to sshd's shell
    session.wait()
    deadline = time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.read_text() == "done\n"
    # and it held the lock to the end: a next apply gets it at once
    assert run(tmp_path, "echo next\n", lock_wait=1).stdout == "next\n"


@pytest.mark.parametrize("holder", ["x'; touch PWNED; '", "$(touch PWNED)", "a\nb"])
def test_the_holder_text_is_data(tmp_path, holder, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = subprocess.run(["sh", "-c", apply_command(holder, 10, 1, str(tmp_path / "run"))], input="true\n",
                            capture_output=True, text=True)
    assert result.returncode == 0 and not (tmp_path / "PWNED").exists()


def test_what_the_script_leaves_running_does_not_keep_the_host_locked(tmp_path):
    # an NFS mount retrying in the background, say: the lock's descriptor is not the script's to inherit
    assert run(tmp_path, "sleep 6 > /dev/null 2>&1 &\necho started\n").stdout == "started\n"
    assert run(tmp_path, "echo next\n", lock_wait=1).stdout == "next\n"


def test_waiting_for_the_lock_does_not_count_against_the_time_limit(tmp_path):
    holder = subprocess.Popen(["flock", str(tmp_path / "lock"), "sleep", "3"])
    try:
        time.sleep(0.3)
        result = run(tmp_path, "sleep 1; echo done\n", time_limit=2, lock_wait=10)
        assert result.returncode == 0 and result.stdout == "done\n", result.stderr
    finally:
        holder.wait()


def test_a_run_dir_that_cannot_be_made_fails_plainly_and_writes_nothing_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("")
    result = run(tmp_path / "file" / "run", "echo never\n")
    assert result.returncode == 70 and "lvsdeploy: cannot make" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
