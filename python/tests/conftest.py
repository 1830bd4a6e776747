"""Test fixtures: the testkit fleet (`sshfan-fleet`, a separate process serving virtual
SSH hosts on 127.1.0.x) and a real OpenSSH sshd on loopback.

Tests that need sshd skip with a reason when it is missing, and fail instead under
``CI=true``.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI") == "true"


def fleet_binary():
    explicit = os.environ.get("SSHFAN_FLEET_BIN")
    if explicit:
        return explicit
    binary = REPO / "target" / "debug" / "sshfan-fleet"
    if not binary.exists():
        subprocess.run(["cargo", "build", "-q", "-p", "sshfan-testkit", "--bin", "sshfan-fleet"],
                       cwd=REPO, check=True)
    return str(binary)


class Fleet:
    """A running `sshfan-fleet`: host names (one port for all), key and known_hosts."""

    def __init__(self, hosts=4, faults=None, real_shell=False, env=None,
                 named_by_address=False):
        self.dir = tempfile.mkdtemp(prefix="sshfan-pytest-")
        args = [fleet_binary(), "--hosts", str(hosts), "--addresses", "--state-dir", self.dir]
        if named_by_address:
            args.append("--named-by-address")
        for index, kind in (faults or {}).items():
            args += ["--fault", "%d=%s" % (index, kind)]
        if real_shell:
            args.append("--real-shell")
        for name, value in (env or {}).items():
            args += ["--env", "%s=%s" % (name, value)]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        ready = Path(self.dir) / "ready"
        deadline = time.monotonic() + 30
        while not ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("sshfan-fleet did not start")
            time.sleep(0.02)
        specs = (Path(self.dir) / "hosts").read_text().split()
        self.names = [spec.rsplit(":", 1)[0] for spec in specs]
        self.port = int(specs[0].rsplit(":", 1)[1])
        self.key = str(Path(self.dir) / "id_ed25519")
        self.known_hosts = str(Path(self.dir) / "known_hosts")

    def client_args(self, **extra):
        args = dict(user="fleet", port=self.port, pkey=self.key,
                    known_hosts=self.known_hosts, ssh_config=False, allow_agent=False,
                    identity_auth=False, num_retries=1)
        args.update(extra)
        return args

    def client(self, hosts=None, **extra):
        from sshfan.clients import ParallelSSHClient
        return ParallelSSHClient(self.names if hosts is None else hosts,
                                 **self.client_args(**extra))

    def connections(self):
        """Per host, ``(accepted so far, open now)`` as the fleet counts them (its
        snapshot is rewritten every 50 ms)."""
        time.sleep(0.2)
        path = Path(self.dir) / "connections"
        return [tuple(int(n) for n in line.split()) for line in path.read_text().splitlines()]

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def fleet():
    running = Fleet(hosts=4)
    yield running
    running.stop()


@pytest.fixture
def make_fleet():
    started = []

    def make(**kwargs):
        running = Fleet(**kwargs)
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def need(program):
    """The program's path; skips (fails under CI=true) when it is missing."""
    found = shutil.which(program) or next(
        (p for p in ("/usr/sbin/" + program, "/usr/bin/" + program) if os.path.exists(p)), None)
    if found is None:
        message = "SKIPPED: %s is not installed (apt-get install openssh-server)" % program
        if IN_CI:
            pytest.fail(message + "; CI must run this test")
        sys.stderr.write(message + "\n")
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def sshd():
    """A real OpenSSH sshd on 127.0.0.1, key auth for the current user."""
    sshd_path = need("sshd")
    keygen = need("ssh-keygen")
    if os.geteuid() != 0:
        pytest.skip("SKIPPED: sshd tests need root (sshd changes user after login)")
    os.makedirs("/run/sshd", exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="sshfan-sshd-"))
    os.chmod(work, 0o755)
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(work / "host_key")],
                   check=True)
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(work / "client_key")],
                   check=True)
    shutil.copy(work / "client_key.pub", work / "authorized_keys")
    import pwd
    user = pwd.getpwuid(os.getuid()).pw_name
    # A user CA the server trusts, and a key (not in authorized_keys) it certified, its
    # certificate stored away from the key (parallel-ssh's `cert_file`).
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(work / "user_ca")],
                   check=True)
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(work / "cert_key")],
                   check=True)
    subprocess.run([keygen, "-q", "-s", str(work / "user_ca"), "-I", "sshfan-test", "-n", user,
                    str(work / "cert_key.pub")], check=True)
    (work / "certs").mkdir()
    os.rename(work / "cert_key-cert.pub", work / "certs" / "user.pub")
    port = free_port()
    (work / "sshd_config").write_text(
        "Port %d\nListenAddress 127.0.0.1\nHostKey %s\nAuthorizedKeysFile %s\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nPermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n"
        "PidFile %s\nTrustedUserCAKeys %s\n" % (
            port, work / "host_key", work / "authorized_keys", work / "sshd.pid",
            work / "user_ca.pub"))
    host_key = (work / "host_key.pub").read_text().split()
    (work / "known_hosts").write_text("[127.0.0.1]:%d %s %s\n" % (port, host_key[0], host_key[1]))
    process = subprocess.Popen([sshd_path, "-D", "-e", "-f", str(work / "sshd_config")],
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("sshd did not start")
            time.sleep(0.05)
    yield dict(host="127.0.0.1", port=port, user=user, pkey=str(work / "client_key"),
               known_hosts=str(work / "known_hosts"), dir=work,
               cert_key=str(work / "cert_key"), cert_file=str(work / "certs" / "user.pub"))
    process.terminate()
    process.wait(10)
    shutil.rmtree(work, ignore_errors=True)
