"""Connections kept across calls, as parallel-ssh keeps them, counted by the fleet."""

import time

from sshfan.clients import SSHClient


def test_ssh_client_makes_one_connection_for_all_its_calls(make_fleet, tmp_path):
    fleet = make_fleet(hosts=2)
    client = SSHClient(fleet.names[0], **fleet.client_args())
    assert fleet.connections()[0] == (1, 1), "the constructor connects"
    for n in range(5):
        output = client.run_command("echo %d" % n)
        client.wait_finished(output)
        assert list(output.stdout) == [str(n)]
    local = tmp_path / "f.txt"
    local.write_text("data\n")
    client.copy_file(str(local), "f.txt")
    with client.open_shell() as shell:
        shell.run("echo from-shell")
    assert list(shell.stdout) == ["from-shell"]
    output = client.run_command("echo with-timeout", command_timeout=30)
    client.wait_finished(output)
    assert fleet.connections()[0] == (1, 1), "every call used the constructor's connection"
    client.disconnect()
    assert fleet.connections()[0] == (1, 0)


def test_parallel_client_keeps_one_connection_per_host(make_fleet):
    fleet = make_fleet(hosts=4)
    client = fleet.client()
    for n in range(5):
        output = client.run_command("echo %d" % n)
        client.join()
        assert [list(o.stdout) for o in output] == [[str(n)]] * 4
    output = client.run_command("echo t", command_timeout=30)
    client.join()
    assert fleet.connections() == [(1, 1)] * 4
    assert client._open_sessions() == 4
    client.disconnect()
    assert fleet.connections() == [(1, 0)] * 4
    client.run_command("true")
    client.join()
    assert fleet.connections() == [(2, 1)] * 4


def test_connect_auth_keeps_its_connections(make_fleet):
    fleet = make_fleet(hosts=3)
    client = fleet.client()
    from sshfan.utils import joinall
    joinall(client.connect_auth(), raise_error=True)
    assert fleet.connections() == [(1, 1)] * 3
    client.run_command("true")
    client.join()
    assert fleet.connections() == [(1, 1)] * 3


def test_a_connection_the_server_drops_is_made_again(make_fleet):
    fleet = make_fleet(hosts=2)
    client = fleet.client()
    client.run_command("true")
    client.join()
    output = client.run_command("drop", stop_on_errors=False)
    client.join()
    time.sleep(0.2)
    output = client.run_command("echo back")
    client.join()
    assert [list(o.stdout) for o in output] == [["back"]] * 2
    assert [accepted for accepted, _ in fleet.connections()] == [2, 2]
