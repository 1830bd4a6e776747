"""parallel-ssh's README example, verbatim but for the import, against the fleet.

The example relies on the user's defaults (`~/.ssh/config`, default identity,
known_hosts), so it runs in a subprocess whose HOME holds exactly those, pointing
`localhost` at a fleet host.
"""

import os
import shutil
import subprocess
import sys
import textwrap

PSSH_README_EXAMPLE = """
from pssh.clients import ParallelSSHClient

hosts = ['localhost', 'localhost']
client = ParallelSSHClient(hosts)

output = client.run_command('uname')
for host_output in output:
    for line in host_output.stdout:
        print(line)
    exit_code = host_output.exit_code
    print(exit_code)
"""


def test_parallel_ssh_readme_example_runs_with_the_import_changed(make_fleet, tmp_path):
    fleet = make_fleet(hosts=1, real_shell=True)
    home = tmp_path / "home"
    ssh = home / ".ssh"
    ssh.mkdir(parents=True)
    shutil.copy(fleet.key, ssh / "id_ed25519")
    os.chmod(ssh / "id_ed25519", 0o600)
    host_key = open(fleet.known_hosts).read().split("\n")[0].split()[1:3]
    (ssh / "known_hosts").write_text("[%s]:%d %s\n" % (fleet.names[0], fleet.port,
                                                       " ".join(host_key)))
    (ssh / "config").write_text(textwrap.dedent("""\
        Host localhost
            HostName %s
            Port %d
            User fleet
        """ % (fleet.names[0], fleet.port)))
    script = PSSH_README_EXAMPLE.replace("from pssh.clients", "from sshfan.clients")
    env = dict(os.environ, HOME=str(home))
    env.pop("SSH_AUTH_SOCK", None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Linux", "0", "Linux", "0"]
