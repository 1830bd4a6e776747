"""parallel-ssh's documented examples (its README, the quick start and advanced usage
pages of its 2.x docs), each run as its own program with only the imports changed
(``pssh`` → ``sshfan``).

The docs assume hosts that accept the user's key (``localhost``, ``host1``…). Here a
``~/.ssh/config`` in a scratch ``HOME`` points those names at fleet hosts (``HostName``,
``Port``, ``User``, ``IdentityFile``, ``UserKnownHostsFile``), as a user's own would: the
example code itself is the docs', with the docs' ``<..>`` placeholders filled in.
"""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import Fleet, free_port

# Names the examples use, and the fleet host each one is.
ALIASES = {"localhost": 0, "host1": 0, "host2": 1, "host3": 2, "host4": 3, "my_host": 0,
           "my_other_host": 1, "myhost1": 0, "myhost2": 1, "otherhost": 2, "bastion": 3}


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    fleet = Fleet(hosts=4, real_shell=True)
    home = tmp_path_factory.mktemp("home")
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700)
    shutil.copy(fleet.key, ssh / "id_ed25519")
    shutil.copy(fleet.key, ssh / "my_key")
    shutil.copy(fleet.known_hosts, ssh / "known_hosts")
    blocks = ["Host %s\n  HostName %s\n" % (alias, fleet.names[index])
              for alias, index in ALIASES.items()]
    # A host nobody listens on, for the error examples.
    blocks.append("Host down\n  HostName 127.0.0.1\n  Port %d\n" % free_port())
    blocks.append("Host *\n  User fleet\n  Port %d\n  IdentityFile ~/.ssh/id_ed25519\n"
                  "  UserKnownHostsFile ~/.ssh/known_hosts\n" % fleet.port)
    (ssh / "config").write_text("".join(blocks))
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    env["HOME"] = str(home)
    yield dict(env=env, fleet=fleet)
    fleet.stop()


def run_example(docs, tmp_path, source):
    """Runs `source` (an example, dedented) as a program in `tmp_path`; its stdout."""
    script = tmp_path / "example.py"
    script.write_text(textwrap.dedent(source))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=docs["env"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, "example failed:\n%s\n%s" % (result.stdout, result.stderr)
    return result.stdout


# Quick start.

def test_quickstart_complete_example(docs, tmp_path):
    out = run_example(docs, tmp_path, """
        from sshfan.clients import ParallelSSHClient

        hosts = ['localhost', 'localhost', 'localhost', 'localhost']
        client = ParallelSSHClient(hosts, timeout=1)
        cmd = 'uname'

        output = client.run_command(cmd)
        client.join(output)
        for host_out in output:
            for line in host_out.stdout:
                print(line)
    """)
    assert out == "Linux\n" * 4


def test_quickstart_single_host_client(docs, tmp_path):
    out = run_example(docs, tmp_path, """
        from sshfan.clients import SSHClient

        host = 'localhost'
        cmd = 'uname'
        client = SSHClient(host)

        host_out = client.run_command(cmd)
        for line in host_out.stdout:
            print(line)
    """)
    assert out == "Linux\n"


def test_quickstart_output_exit_codes_last_output_and_host_logger(docs, tmp_path):
    out = run_example(docs, tmp_path, """
        import sys
        from sshfan.clients import ParallelSSHClient
        from sshfan.utils import enable_host_logger

        hosts = ['host1', 'host2', 'host3', 'host4']
        client = ParallelSSHClient(hosts)
        output = client.run_command('uname')
        for host_output in output:
            for line in host_output.stdout:
                print("Host [%s] - %s" % (host_output.host, line))

        client = ParallelSSHClient(['localhost', 'localhost'])
        output = client.run_command('whoami')
        client.join(output)

        for host_output in output:
            hostname = host_output.host
            stdout = list(host_output.stdout)
            print("Host %s: exit code %s, output %s" % (
                  hostname, host_output.exit_code, stdout))

        output = client.run_command('exit 3')
        for host_out in output:
            for line in host_out.stdout:
                print(line)
            print(host_out.exit_code)

        client.run_command('uname')
        output = client.get_last_output()
        for host_output in output:
            for line in host_output.stdout:
                print(line)

        enable_host_logger()
        output = client.run_command('uname')
        client.join(output, consume_output=True)
    """)
    import getpass
    lines = out.splitlines()
    assert lines[:4] == ["Host [host%d] - Linux" % n for n in range(1, 5)]
    assert lines[4:6] == ["Host localhost: exit code 0, output ['%s']" % getpass.getuser()] * 2
    assert lines[6:8] == ["3", "3"]
    assert lines[8:10] == ["Linux", "Linux"]


def test_quickstart_host_logger_prints_each_line(docs, tmp_path):
    result = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        from sshfan.clients import ParallelSSHClient
        from sshfan.utils import enable_host_logger
        client = ParallelSSHClient(['localhost'])
        enable_host_logger()
        output = client.run_command('uname')
        client.join(output, consume_output=True)
    """)], cwd=tmp_path, env=docs["env"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "[localhost]\tLinux" in result.stdout + result.stderr


def test_quickstart_stdin_and_errors(docs, tmp_path):
    out = run_example(docs, tmp_path, """
        from sshfan.clients import ParallelSSHClient

        client = ParallelSSHClient(['localhost'])
        output = client.run_command('read line; echo "got $line"')
        host_output = output[0]
        stdin = host_output.stdin
        stdin.write("writing to stdin\\n")
        stdin.flush()
        for line in host_output.stdout:
            print(line)

        client = ParallelSSHClient(['host1', 'down'], num_retries=1, retry_delay=0.1)
        output = client.run_command('whoami', stop_on_errors=False)
        client.join(output)
        for host_output in output:
            host = host_output.host
            print("Host %s: exit code %s, exception %s" % (
                  host, host_output.exit_code, host_output.exception))
    """)
    lines = out.splitlines()
    assert lines[:2] == ["got writing to stdin", "Host host1: exit code 0, exception None"]
    assert lines[2].startswith("Host down: exit code None, exception ")
    assert "refused" in lines[2], lines[2]


# Advanced usage.

def test_advanced_private_key_and_both_native_clients(docs, tmp_path):
    out = run_example(docs, tmp_path, """
        from sshfan.clients import ParallelSSHClient

        hosts = ['my_host', 'my_other_host']
        client = ParallelSSHClient(hosts, pkey="~/.ssh/my_key")
        output = client.run_command('uname')
        for host_out in output:
            for line in host_out.stdout:
                print(line)

        from sshfan.clients.ssh import ParallelSSHClient, SSHClient

        hosts = ['localhost', 'localhost']
        client = ParallelSSHClient(hosts)

        output = client.run_command('uname')
        client.join(output)
        for host_out in output:
            for line in host_out.stdout:
                print(line)
    """)
    assert out == "Linux\n" * 4


def test_advanced_proxy_hosts(docs, tmp_path):
    out = run_example(docs, tmp_path, """
        from sshfan.clients import ParallelSSHClient, SSHClient
        from sshfan.config import HostConfig

        hosts = ['host1', 'host2']
        client = ParallelSSHClient(hosts, proxy_host='bastion')
        output = client.run_command('echo me')
        client.join(output)
        print([list(o.stdout) for o in output])

        host = 'host3'
        client = SSHClient(host, proxy_host='bastion')
        print(list(client.run_command('echo single').stdout))

        host_config = [
            HostConfig(proxy_host='bastion'),
            HostConfig(proxy_host='bastion'),
            ]
        client = ParallelSSHClient(hosts, host_config=host_config)
        output = client.run_command('echo me')
        client.join(output)
        print([list(o.stdout) for o in output])
    """)
    assert out.splitlines() == ["[['me'], ['me']]", "['single']", "[['me'], ['me']]"]


def test_advanced_join_and_read_timeouts(docs, tmp_path):
    out = run_example(docs, tmp_path, """
        from sshfan.clients import ParallelSSHClient
        from sshfan.exceptions import Timeout

        client = ParallelSSHClient(['host1', 'host2'])
        output = client.run_command('sleep 2')
        try:
            client.join(output, timeout=0.5)
        except Timeout:
            print("join timed out")

        output = client.run_command('echo out; echo err >&2; sleep 3', read_timeout=0.5)
        for host_out in output:
            try:
                for line in host_out.stdout:
                    print(line)
                for line in host_out.stderr:
                    print(line)
            except Timeout:
                print("read timed out")

        output = client.run_command('case $(hostname) in *) exit 0;; esac', )
        client.join(output)
        output = client.run_command('[ "$(cat /proc/sys/kernel/hostname)" ] && echo fast')
        output += client.run_command('sleep 3; echo slow')[:1]
        try:
            client.join(output, timeout=1.5)
        except Timeout as ex:
            # Some commands timed out
            finished_output = ex.args[2]
            unfinished_output = ex.args[3]
        else:
            # No timeout, all commands finished within five seconds
            finished_output = output
            unfinished_output = None
        for host_out in finished_output:
            for line in host_out.stdout:
                print(line)
        if unfinished_output is not None:
            print("unfinished", len(unfinished_output))
    """)
    assert out.splitlines() == ["join timed out", "out", "read timed out", "out",
                                "read timed out", "fast", "fast", "unfinished 1"]


def test_advanced_partial_output_of_commands_that_do_not_terminate(docs, tmp_path):
    out = run_example(docs, tmp_path, """
        from sshfan.clients import ParallelSSHClient
        from sshfan.exceptions import Timeout

        client = ParallelSSHClient(['host1', 'host2'])
        output = client.run_command(
            'while true; do echo a line; sleep .1; done',
            use_pty=True, read_timeout=1)

        # Read as many lines of output as hosts have sent before the timeout
        stdout = []
        for host_out in output:
            try:
                for line in host_out.stdout:
                    stdout.append(line)
            except Timeout:
                pass

        # Closing channel which has PTY has the effect of terminating
        # any running processes started on that channel.
        for host_out in output:
            host_out.client.close_channel(host_out.channel)
        # Join is not strictly needed here as channel has already been closed and
        # command has finished, but is safe to use regardless.
        client.join(output)
        # Can now read output up to when the channel was closed without blocking.
        rest_of_stdout = list(output[0].stdout)
        print(len(stdout) >= 10, set(stdout + rest_of_stdout))
    """)
    assert out == "True {'a line'}\n"


def test_advanced_per_host_configuration_and_command_substitution(docs, tmp_path):
    fleet = docs["fleet"]
    out = run_example(docs, tmp_path, """
        from sshfan.clients import ParallelSSHClient
        from sshfan.config import HostConfig

        hosts = ['%s', '%s']
        host_config = [
            HostConfig(port=%d, user='fleet',
                       password='pass', private_key='%s'),
            HostConfig(port=%d, user='fleet',
                       password='pass', private_key='%s'),
        ]

        client = ParallelSSHClient(hosts, host_config=host_config)
        output = client.run_command('uname')
        client.join(output)
        print([list(o.stdout) for o in output])

        client = ParallelSSHClient(['host1', 'host2', 'host3'])
        output = client.run_command('%%s', host_args=('echo host1_cmd',
                                                     'echo host2_cmd',
                                                     'echo host3_cmd',))
        print([list(o.stdout) for o in output])
        output = client.run_command(
                     '%%s %%s',
                     host_args=(('echo host1_cmd1', 'host1_cmd2'),
                                ('echo host2_cmd1', 'host2_cmd2'),
                                ('echo host3_cmd1', 'host3_cmd2'),))
        print([list(o.stdout) for o in output])
        host_args = [{'cmd': 'echo command-%%s' %% (i,)}
                     for i in range(len(client.hosts))]
        output = client.run_command('%%(cmd)s', host_args=host_args)
        print([list(o.stdout) for o in output])
    """ % (fleet.names[0], fleet.names[1], fleet.port, fleet.key, fleet.port, fleet.key))
    assert out.splitlines() == [
        "[['Linux'], ['Linux']]",
        "[['host1_cmd'], ['host2_cmd'], ['host3_cmd']]",
        "[['host1_cmd1 host1_cmd2'], ['host2_cmd1 host2_cmd2'], ['host3_cmd1 host3_cmd2']]",
        "[['command-0'], ['command-1'], ['command-2']]"]


def test_advanced_shell_encoding_and_pty(docs, tmp_path):
    out = run_example(docs, tmp_path, """
        from sshfan.clients import ParallelSSHClient

        client = ParallelSSHClient(['localhost'])

        output = client.run_command('echo $0', shell='bash -c')
        for host_out in output:
            for line in host_out.stdout:
                print(line)

        output = client.run_command('printf me')
        output[0].encoding = 'utf-16-le'
        stdout = list(output[0].stdout)
        print(stdout == ['me'.encode().decode('utf-16-le')])
    """)
    assert out.splitlines() == ["bash", "True"]


def test_advanced_command_encoding_and_pty_against_sshd(sshd, tmp_path):
    """The encoding and PTY examples, against OpenSSH (the fleet reads command lines as
    UTF-8 and runs its real shell without a terminal)."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(
        "Host localhost\n  HostName %s\n  Port %d\n  User %s\n  IdentityFile %s\n"
        "  UserKnownHostsFile %s\n" % (sshd["host"], sshd["port"], sshd["user"],
                                       sshd["pkey"], sshd["known_hosts"]))
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    env["HOME"] = str(home)
    out = run_example(dict(env=env), tmp_path, """
        from sshfan.clients import ParallelSSHClient

        client = ParallelSSHClient(['localhost'])

        cmd = b"echo \\xbc".decode('latin-1')
        output = client.run_command(cmd, encoding='latin-1')
        stdout = list(output[0].stdout)
        print(stdout)

        output = client.run_command("echo 'asdf' >&2", use_pty=True)
        for line in output[0].stdout:
            print(line)
        for line in output[0].stderr:
            print("stderr:", line)
    """)
    assert out == "['¼']\nasdf\n"


def test_advanced_sftp_and_scp_with_gevent_joinall(docs, tmp_path):
    (tmp_path / "test").write_text("copied\n")
    (tmp_path / "my_dir" / "sub").mkdir(parents=True)
    (tmp_path / "my_dir" / "sub" / "f").write_text("tree\n")
    for n in (1, 2):
        (tmp_path / ("local_file_%d" % n)).write_text("per host %d\n" % n)
    work = tmp_path / "work"
    work.mkdir()
    out = run_example(docs, work, """
        from sshfan.clients import ParallelSSHClient
        from gevent import joinall

        hosts = ['host1', 'host2']
        client = ParallelSSHClient(hosts)

        cmds = client.copy_file('../test', '/tmp/sshfan-docs/test_dir/test')
        joinall(cmds, raise_error=True)

        cmds = client.copy_file('../my_dir', '/tmp/sshfan-docs/my_dir', recurse=True)
        joinall(cmds, raise_error=True)

        cmds = client.copy_remote_file('/tmp/sshfan-docs/test_dir/test', 'local.file')
        joinall(cmds, raise_error=True)

        copy_args = [{'local_file': '../local_file_1',
                      'remote_file': '/tmp/sshfan-docs/remote_file_1',
                      },
                     {'local_file': '../local_file_2',
                      'remote_file': '/tmp/sshfan-docs/remote_file_2',
                      }]
        cmds = client.copy_file('%(local_file)s', '%(remote_file)s',
                                copy_args=copy_args)
        joinall(cmds)

        cmds = client.copy_remote_file('/tmp/sshfan-docs/my_dir', 'my_dir_back',
                                       recurse=True)
        joinall(cmds, raise_error=True)

        from sshfan.clients import SSHClient

        client = SSHClient('localhost')
        client.copy_remote_file('/tmp/sshfan-docs/remote_file_1', 'local_filename')
        client.scp_send('../test', '/tmp/sshfan-docs-scp-%d' % os.getpid())
        client.scp_recv('/tmp/sshfan-docs-scp-%d' % os.getpid(), 'local_filename_scp')
        os.remove('/tmp/sshfan-docs-scp-%d' % os.getpid())
    """.replace("from gevent import joinall", "from gevent import joinall\n        import os"))
    assert out == ""
    for name in ("host1", "host2"):
        assert (work / ("local.file_" + name)).read_text() == "copied\n"
        assert (work / ("my_dir_back_" + name) / "sub" / "f").read_text() == "tree\n"
    # Each host got its own file (copy_args), read back from the first host.
    assert (work / "local_filename").read_text() == "per host 1\n"
    assert (work / "local_filename_scp").read_text() == "copied\n"


def test_advanced_interactive_shells(docs, tmp_path):
    out = run_example(docs, tmp_path, """
        from sshfan.clients import ParallelSSHClient, SSHClient
        from sshfan.exceptions import ShellError, Timeout

        client = ParallelSSHClient(['host1', 'host2'])

        cmd = \"\"\"
        echo me
        echo me too
        \"\"\"

        shells = client.open_shell()
        client.run_shell_commands(shells, cmd)
        cmd = 'echo me three'
        client.run_shell_commands(shells, cmd)
        cmd = ['echo me also', 'echo and as well me', 'exit 1']
        client.run_shell_commands(shells, cmd)
        client.join_shells(shells)

        for shell in shells:
            for line in shell.stdout:
                print(line)
            print(shell.exit_code)
        try:
            client.run_shell_commands(shells, 'echo again')
        except ShellError:
            print("closed")

        shells = client.open_shell(read_timeout=1)
        client.run_shell_commands(shells, ['echo me'])

        # Times out after one second
        try:
            for line in shells[0].stdout:
                print(line)
        except Timeout:
            print("partial")

        cmds = ["echo me", "sleep 1.2"]

        shells = client.open_shell()
        client.run_shell_commands(shells, cmds)
        try:
            client.join_shells(shells, timeout=1)
        except Timeout:
            print("join_shells timed out")

        client = SSHClient('localhost')

        cmd = 'echo me'
        with client.open_shell() as shell:
            shell.run(cmd)
        print(list(shell.stdout))
        print(shell.exit_code)

        shell = client.open_shell()
        shell.run(cmd)
        shell.close()
        print(list(shell.stdout))
    """)
    block = ["me", "me too", "me three", "me also", "and as well me", "1"]
    assert out.splitlines() == block * 2 + [
        "closed", "me", "partial", "join_shells timed out", "['me']", "0", "['me']"]


def test_advanced_host_lists_filtering_and_overriding(docs, tmp_path):
    out = run_example(docs, tmp_path, """
        from sshfan.clients import ParallelSSHClient

        hosts = ['host1', 'dc1.host2']
        client = ParallelSSHClient([h for h in hosts if h.find('dc1')])
        print(client.hosts)
        client = ParallelSSHClient((h for h in hosts if h.find('dc1')))
        print(client.hosts)
        client = ParallelSSHClient(filter(lambda h: h.find('dc1'), hosts))
        output = client.run_command('exit 0')
        client.join(output)
        print([o.exit_code for o in output])

        client.hosts = ['otherhost']
        output = client.run_command('exit 0')
        client.join(output)
        print([(o.host, o.exit_code) for o in output])
    """)
    assert out.splitlines() == ["['host1']", "['host1']", "[0]", "[('otherhost', 0)]"]
