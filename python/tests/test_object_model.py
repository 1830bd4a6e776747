"""parallel-ssh's object model: per-host clients, channels, buffers, attributes."""

import pytest

from sshfan import exceptions
from sshfan.clients import ParallelSSHClient, SSHClient
from sshfan.clients.ssh import ParallelSSHClient as LibsshParallelSSHClient
from sshfan.clients.ssh import SSHClient as LibsshSSHClient
from sshfan.config import HostConfig
from sshfan.output import BufferData, HostOutput, HostOutputBuffers


def test_output_client_is_the_hosts_own_client_on_the_same_connection(make_fleet):
    fleet = make_fleet(hosts=3)
    client = fleet.client(host_config=[HostConfig(alias="a"), HostConfig(), HostConfig(
        port=fleet.port, keepalive_seconds=7)])
    output = client.run_command("hostname")
    client.join(output)
    clients = [o.client for o in output]
    assert all(isinstance(c, SSHClient) for c in clients)
    assert [c.host for c in clients] == fleet.names
    assert clients[0].alias == "a" and clients[1].alias is None
    assert clients[2].keepalive_seconds == 7 and clients[1].keepalive_seconds == 60
    assert clients[2].port == fleet.port and clients[0].user == "fleet"
    assert clients[0].identity_auth is False and clients[0].timeout is None
    # The host's client runs on the parallel client's connection to that host.
    host_output = clients[1].run_command("hostname")
    clients[1].wait_finished(host_output)
    assert list(host_output.stdout) == ["host1"]
    assert host_output.client is clients[1]
    assert client.run_command("true")[1].client is clients[1], "one client per host"
    client.join()
    assert fleet.connections() == [(1, 1)] * 3
    # Its disconnect closes that host's connection only.
    clients[1].disconnect()
    assert fleet.connections() == [(1, 1), (1, 0), (1, 1)]


def test_channels_finished_exit_status_and_close(make_fleet):
    fleet = make_fleet(hosts=1)
    client = SSHClient(fleet.names[0], **fleet.client_args())
    output = client.run_command("exit 3")
    client.wait_finished(output)
    channel = output.channel
    assert output.client is client
    assert client.finished(channel) is True and channel.eof()
    assert client.get_exit_status(channel) == 3 == output.exit_code
    client.close_channel(channel)  # finished: keeps its status
    assert output.exit_code == 3
    assert client.finished(None) is None
    running = client.run_command("sleep 30")
    assert client.finished(running.channel) is False
    assert client.get_exit_status(running.channel) is None
    client.close_channel(running.channel)
    client.wait_finished(running, timeout=5)
    assert running.exit_code is None
    assert isinstance(running.exception, exceptions.SessionError)
    with pytest.warns(DeprecationWarning):
        channel = client.execute("echo old")
    assert channel.wait_eof(5) and channel.get_exit_status() == 0
    # parallel-ssh's parallel client closes channels too.
    parallel = fleet.client()
    out = parallel.run_command("sleep 30")
    parallel.close_channel(out[0].channel)
    parallel.join(out, timeout=5)
    assert out[0].exit_code is None


def test_fully_qualified_command_is_the_command_as_sent(fleet):
    client = fleet.client()
    output = client.run_command("echo %s", host_args=[("a",), ("b",), ("c",), ("d",)])
    client.join(output)
    assert [o.fully_qualified_command for o in output] == [
        b"echo a", b"echo b", b"echo c", b"echo d"]
    output = client.run_command("id", sudo=True, stop_on_errors=False)
    client.join(output)
    assert output[0].fully_qualified_command == b"sudo -S -p '' -- sh -c 'id'"
    shells = client.open_shell()
    assert shells[0].output.fully_qualified_command is None
    client.join_shells(shells)


def test_buffers_are_constructible_as_parallel_ssh_s():
    stdout, stderr = BufferData(None, None), BufferData("reader", "rw")
    buffers = HostOutputBuffers(stdout, stderr)
    assert buffers.stdout is stdout and buffers.stderr.rw_buffer == "rw"
    output = HostOutput("h", None, None, None, buffers=buffers,
                        fully_qualified_command=b"true")
    assert output.buffers is buffers and output.channel is None
    assert output.fully_qualified_command == b"true"


def test_read_output_takes_the_buffer_or_its_rw_buffer(fleet):
    client = SSHClient(fleet.names[0], **fleet.client_args())
    output = client.run_command("echo one; echo two")
    client.wait_finished(output)
    assert next(client.read_output(output.buffers.stdout.rw_buffer)) == b"one"
    assert list(client.read_output(output.buffers.stdout)) == [b"two"]


def test_writing_to_a_joined_shell_raises_shell_error(fleet):
    client = fleet.client()
    shells = client.open_shell()
    client.run_shell_commands(shells, "echo hi")
    client.join_shells(shells)
    assert [list(s.stdout) for s in shells] == [["hi"]] * 4
    with pytest.raises(exceptions.ShellError):
        client.run_shell_commands(shells, "echo late")
    with pytest.raises(exceptions.ShellError):
        shells[0].run("echo late")
    assert shells[0].stdin is shells[0].output.stdin


def test_clients_show_their_settings_cmds_and_pool(fleet):
    client = fleet.client(timeout=9, pool_size=7, retry_delay=2)
    assert (client.timeout, client.pool_size, client.retry_delay) == (9, 7, 2)
    assert (client.allow_agent, client.num_retries, client.proxy_host) == (False, 1, None)
    assert client.cmds is None and client.get_last_output() is None
    output = client.run_command("hostname")
    assert [cmd.get() for cmd in client.cmds] == output
    assert client.get_last_output(client.cmds) == output
    libssh = LibsshParallelSSHClient(fleet.names, cert_file=None, **fleet.client_args())
    out = libssh.run_command("true")
    assert isinstance(out[0].client, LibsshSSHClient)
    assert out[0].client.gssapi_auth is False
    libssh.join()
