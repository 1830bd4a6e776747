"""``sshfan.aio``: the asyncio client against the testkit fleet and a real sshd."""

import asyncio
import os
import shutil
import subprocess
import time

import pytest

from sshfan import exceptions
from sshfan.aio import ParallelClient


def client_for(fleet, **extra):
    return ParallelClient(fleet.names, **fleet.client_args(**extra))


def test_run_streams_lines_and_waits(fleet):
    async def main():
        async with client_for(fleet) as client:
            run = await client.run("echo out; echo err >&2; seq 3; exit 3")
            assert [host.host for host in run.hosts] == fleet.names
            for host in run.hosts:
                assert [line async for line in host.stdout] == ["out", "1", "2", "3"]
                assert [line async for line in host.stderr] == ["err"]
                assert await host.wait() == 3
                assert host.exception is None
            # bytes with encoding=None; stdin sent to every host, then end-of-file.
            run = await client.run("cat", stdin=b"a\xffb\n", encoding=None)
            await run.join()
            assert [[line async for line in host.stdout] for host in run.hosts] == \
                [[b"a\xffb"]] * len(fleet.names)
    asyncio.run(main())


def test_as_completed_yields_hosts_in_the_order_they_finish(make_fleet):
    running = make_fleet(hosts=3, faults={0: "slow:600", 1: "slow:300"})

    async def main():
        async with client_for(running) as client:
            run = await client.run("echo done")
            order = [host.host async for host in run.as_completed()]
            assert order == [running.names[2], running.names[1], running.names[0]]
            assert all(host.exit_code == 0 for host in run.hosts)
    asyncio.run(main())


def test_connection_failures_are_the_blocking_client_s_exceptions(make_fleet):
    running = make_fleet(hosts=3, faults={1: "reject-auth"})

    async def main():
        async with client_for(running) as client:
            run = await client.run("echo ok")
            await run.join()
            assert isinstance(run.hosts[1].exception, exceptions.AuthenticationError)
            assert run.hosts[1].exit_code is None
            assert [host.exit_code for host in (run.hosts[0], run.hosts[2])] == [0, 0]
            errors = await client.connect()
            assert errors[0] is None and errors[2] is None
            assert isinstance(errors[1], exceptions.AuthenticationError)
    asyncio.run(main())


def test_join_timeout_read_timeout_and_cancel(make_fleet):
    running = make_fleet(hosts=2, faults={1: "hang"})

    async def main():
        async with client_for(running) as client:
            run = await client.run("echo ok", read_timeout=0.3)
            with pytest.raises(exceptions.Timeout) as raised:
                await run.join(timeout=0.5)
            finished, unfinished = raised.value.args[2], raised.value.args[3]
            assert [h.host for h in finished] == running.names[:1]
            assert [h.host for h in unfinished] == running.names[1:]
            with pytest.raises(exceptions.Timeout):
                async for _ in run.hosts[1].stdout:
                    pass
            run.cancel()
            await run.join(timeout=5)
            assert isinstance(run.hosts[1].exception, exceptions.SessionError)
    asyncio.run(main())


def test_sessions_persist_over_runs(make_fleet):
    running = make_fleet(hosts=3)

    async def main():
        async with client_for(running) as client:
            for _ in range(5):
                run = await client.run("echo again")
                await run.join()
            assert [accepted for accepted, _ in running.connections()] == [1, 1, 1]
            await client.disconnect()
            run = await client.run("true")
            await run.join()
            assert [accepted for accepted, _ in running.connections()] == [2, 2, 2]
    asyncio.run(main())


def test_upload_download_and_shells(make_fleet, tmp_path):
    running = make_fleet(hosts=2)
    (tmp_path / "f").write_text("payload")

    async def main():
        async with client_for(running) as client:
            hosts = await client.upload(str(tmp_path / "f"), "/srv/f")
            assert [host.exception for host in hosts] == [None, None]
            hosts = await client.download("/srv/f", str(tmp_path / "got"))
            assert [host.exception for host in hosts] == [None, None]
            hosts = await client.download("/srv/missing", str(tmp_path / "none"))
            assert all(isinstance(host.exception, exceptions.SFTPIOError) for host in hosts)
            async with client.open_shells() as shells:
                for shell in shells:
                    await shell.write("echo in shell\nexit 4\n")
            assert [[line async for line in shell.stdout] for shell in shells] == \
                [["in shell"]] * 2
            assert [shell.exit_code for shell in shells] == [4, 4]
    asyncio.run(main())
    for name in running.names:
        assert (tmp_path / ("got_" + name)).read_text() == "payload"


def test_the_loop_is_never_blocked_during_a_1000_host_run(make_fleet):
    """A coroutine ticking every 10 ms keeps ticking (no gap over 50 ms) while 1,000
    hosts connect, run and stream their output."""
    running = make_fleet(hosts=1000)

    async def main():
        gaps = []
        stop = asyncio.Event()

        async def ticker():
            last = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        ticking = asyncio.create_task(ticker())
        async with client_for(running, pool_size=200, timeout=60) as client:
            run = await client.run("seq 20")
            lines = 0
            async for host in run.as_completed():
                lines += len([line async for line in host.stdout])
                assert host.exit_code == 0, host.exception
        stop.set()
        await ticking
        assert lines == 20 * 1000
        assert max(gaps) < 0.05, max(gaps)
    asyncio.run(main())


def test_uvloop_and_anyio(fleet):
    uvloop = pytest.importorskip("uvloop")
    anyio = pytest.importorskip("anyio")

    async def main():
        async with client_for(fleet) as client:
            run = await client.run("echo loop")
            await run.join()
            return [[line async for line in host.stdout] for host in run.hosts]
    assert uvloop.run(main()) == [["loop"]] * len(fleet.names)
    assert anyio.run(main, backend="asyncio") == [["loop"]] * len(fleet.names)


def test_cancelling_the_awaiting_task_stops_the_remote_command(sshd):
    """Against a real sshd, with a PTY: cancelling the task awaiting the run closes the
    channel, and the remote command is gone."""
    marker = "sleep 3%04d" % (os.getpid() % 10000)
    pgrep = shutil.which("pgrep")
    if pgrep is None:
        pytest.skip("pgrep is needed")

    def remote_running():
        return subprocess.run([pgrep, "-f", marker], capture_output=True).returncode == 0

    async def main():
        client = ParallelClient([sshd["host"]], user=sshd["user"], port=sshd["port"],
                                pkey=sshd["pkey"], known_hosts=sshd["known_hosts"],
                                ssh_config=False, allow_agent=False, identity_auth=False)
        async with client:
            run = await client.run(marker, use_pty=True)
            waiting = asyncio.create_task(run.join())
            # Let the task start awaiting: a task cancelled before its first step never
            # runs at all (so it has nothing to cancel).
            await asyncio.sleep(0)
            deadline = time.monotonic() + 10
            while not remote_running():
                assert time.monotonic() < deadline, "the command never started"
                await asyncio.sleep(0.05)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await run.join(timeout=10)
            assert isinstance(run.hosts[0].exception, exceptions.SessionError)
            deadline = time.monotonic() + 10
            while remote_running():
                assert time.monotonic() < deadline, "the remote command outlived the cancel"
                await asyncio.sleep(0.05)
    asyncio.run(main())


def test_programs_exit_cleanly_after_async_runs(fleet):
    """Interpreter exit right after an asyncio run: sshfan's threads must not call into
    a finalizing interpreter (that aborted about one exit in ten before). Ten programs,
    each must exit 0."""
    import sys
    program = (
        "import asyncio\n"
        "from sshfan.aio import ParallelClient\n"
        "async def main():\n"
        "    async with ParallelClient(%r, **%r) as client:\n"
        "        run = await client.run('uname -r')\n"
        "        async for host in run.as_completed():\n"
        "            [line async for line in host.stdout]\n"
        "asyncio.run(main())\n" % (fleet.names, fleet.client_args()))
    for _ in range(10):
        done = subprocess.run([sys.executable, "-c", program], capture_output=True)
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
