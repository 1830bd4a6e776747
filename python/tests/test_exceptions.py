"""Exceptions as parallel-ssh raises them: classes, positional args, formatting."""

import builtins

import pytest

from sshfan import exceptions

from conftest import free_port


def test_connection_error_is_the_builtin_and_refused_is_connection_refused(fleet):
    assert exceptions.ConnectionError is builtins.ConnectionError
    port = free_port()
    client = fleet.client(hosts=["127.0.0.1"], port=port, num_retries=2, retry_delay=0.01)
    with pytest.raises(ConnectionRefusedError) as raised:
        client.run_command("true")
    error = raised.value
    assert isinstance(error, ConnectionError)
    fmt, host, got_port, cause, retry, num_retries = error.args
    assert (host, got_port, retry, num_retries) == ("127.0.0.1", port, 2, 2)
    assert str(error) == fmt % error.args[1:]
    assert "Error connecting to host '127.0.0.1:%d'" % port in str(error)
    assert "refused" in str(cause)


def test_authentication_error_args(make_fleet):
    fleet = make_fleet(hosts=2, faults={1: "reject-auth"})
    with pytest.raises(exceptions.AuthenticationError) as raised:
        fleet.client().run_command("true")
    fmt, host, port, cause, retry, num_retries = raised.value.args
    assert (host, port) == (fleet.names[1], fleet.port)
    assert (retry, num_retries) == (1, 1)
    assert str(raised.value).startswith(
        "Authentication error while connecting to %s:%s - " % (fleet.names[1], fleet.port))


def test_join_timeout_carries_finished_and_unfinished_outputs(fleet):
    client = fleet.client()
    output = client.run_command("sleep 1", stop_on_errors=False)
    with pytest.raises(exceptions.Timeout) as raised:
        client.join(output, timeout=0.1)
    fmt, timeout, finished, unfinished = raised.value.args
    assert timeout == 0.1
    assert finished == [] and unfinished == output
    # As in parallel-ssh, the format takes only the timeout, so str() shows the args.
    assert "reached with commands still running" in str(raised.value)
    client.join(output)
    assert [o.exit_code for o in output] == [0] * len(output)


def test_copy_errors_name_the_host_at_args_2(fleet, tmp_path):
    from sshfan.utils import joinall
    client = fleet.client()
    tasks = client.copy_remote_file("no/such/file", str(tmp_path / "out"))
    joinall(tasks)
    error = tasks[0].exception
    assert isinstance(error, exceptions.SFTPIOError)
    assert error.args[2] == fleet.names[0]
    assert "no/such/file" in str(error)


def test_the_libssh_client_module_and_gssapi_refused_at_connect(fleet):
    from sshfan.clients.ssh import ParallelSSHClient, SSHClient
    from sshfan.clients.ssh.parallel import ParallelSSHClient as Same
    assert ParallelSSHClient is Same
    args = fleet.client_args()
    client = ParallelSSHClient(fleet.names, gssapi_auth=True, gssapi_server_identity="srv",
                               gssapi_client_identity="me", gssapi_delegate_credentials=True,
                               **args)
    assert client.gssapi_server_identity == "srv"
    with pytest.raises(exceptions.AuthenticationError) as raised:
        client.run_command("true")
    assert "GSS-API" in str(raised.value) and "not supported" in str(raised.value)
    plain = ParallelSSHClient(fleet.names, **args)
    output = plain.run_command("echo libssh")
    plain.join()
    assert [list(o.stdout) for o in output] == [["libssh"]] * len(fleet.names)
    single = SSHClient(fleet.names[0], **args)
    host_output = single.run_command("echo one")
    single.wait_finished(host_output)
    assert list(host_output.stdout) == ["one"]


def test_loggers_are_silent_by_default_and_the_host_logger_gets_one_handler():
    import logging

    import sshfan
    from sshfan import constants, utils
    assert constants.DEFAULT_RETRIES == 3 and constants.RETRY_DELAY == 5
    assert sshfan.logger is logging.getLogger("sshfan")
    assert any(isinstance(h, logging.NullHandler) for h in sshfan.logger.handlers)
    saved = (list(utils.host_logger.handlers), utils.host_logger.level,
             utils.host_logger.propagate)
    try:
        for _ in range(3):
            utils.enable_host_logger()
        streams = [h for h in utils.host_logger.handlers
                   if isinstance(h, logging.StreamHandler)]
        assert len(streams) == 1
    finally:
        utils.host_logger.handlers[:] = saved[0]
        utils.host_logger.setLevel(saved[1])
        utils.host_logger.propagate = saved[2]


def test_a_command_timeout_is_the_hosts_exception_never_a_silent_cut(fleet):
    client = fleet.client()
    output = client.run_command("echo started; sleep 5", command_timeout=0.5)
    client.join(output)
    for host_output in output:
        assert list(host_output.stdout) == ["started"]
        assert isinstance(host_output.exception, exceptions.Timeout)
        assert host_output.exception.kind == "command_timeout"
        assert host_output.exit_code is None


def test_read_timeout_is_one_timer_for_the_whole_iteration(fleet):
    import time
    client = fleet.client(hosts=fleet.names[:1])
    # A line every 0.2 s: a timer per read would never fire; one for the iteration does.
    output = client.run_command("trickle 20 200", read_timeout=0.7)
    started = time.monotonic()
    lines = []
    with pytest.raises(exceptions.Timeout):
        for line in output[0].stdout:
            lines.append(line)
    assert time.monotonic() - started < 2
    assert 1 <= len(lines) <= 5
    output[0].read_timeout = None
    rest = list(output[0].stdout)
    assert len(lines) + len(rest) == 20, "nothing lost across the timeout"


def test_single_client_timeout_is_the_deprecated_read_timeout(fleet):
    from sshfan.clients import SSHClient
    client = SSHClient(fleet.names[0], **fleet.client_args())
    with pytest.warns(DeprecationWarning):
        host_output = client.run_command("echo a; sleep 3; echo b", timeout=0.3)
    assert host_output.read_timeout == 0.3
    with pytest.raises(exceptions.Timeout):
        list(host_output.stdout)
    with pytest.raises(ValueError):
        client.wait_finished(None)


def test_bad_arguments_raise_what_parallel_ssh_raises(fleet):
    from sshfan.clients import ParallelSSHClient
    from sshfan.config import HostConfig
    args = fleet.client_args()
    for hosts in ("web1", b"web1"):
        with pytest.raises(TypeError):
            ParallelSSHClient(hosts, **args)
    with pytest.raises(ValueError):
        HostConfig(port="22")
    with pytest.raises(ValueError):
        ParallelSSHClient(fleet.names, host_config=[HostConfig()], **args)
    with pytest.raises(exceptions.HostConfigError):
        ParallelSSHClient(fleet.names, host_config=HostConfig(), **args)
    with pytest.raises(exceptions.InvalidAPIUseError):
        ParallelSSHClient(fleet.names, **dict(args, keyboard_interactive=True))
    client = ParallelSSHClient(fleet.names, **args)
    client.join()  # nothing run yet: returns at once
    assert client.finished()
    with pytest.raises(TypeError):
        client.run_command("echo %s %s", host_args=[("a",)] * len(fleet.names))
    with pytest.raises(KeyError):
        client.run_command("echo %(x)s", host_args=[{"y": 1}] * len(fleet.names))
    output = client.run_command("true")
    with pytest.raises(ValueError):
        client.join(["not a HostOutput"])
    client.join(output)


def test_an_unknown_host_key_says_how_to_accept_it(fleet, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    client = fleet.client(known_hosts=str(empty))
    with pytest.raises(exceptions.HostKeyError) as raised:
        client.run_command("true")
    assert "host_key_policy='accept-new'" in str(raised.value)
