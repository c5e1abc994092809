"""A one-node SLURM cluster on 127.0.0.1 for tests: Debian's slurm-wlm and munge, started in a
temporary folder and stopped by the pids it started.

The cluster: partitions ``cpu`` (default) and ``gpu``, one node with the machine's CPUs, its
memory less 1 GB, and one generic resource ``gpu:1`` (no device: ``File=/dev/null``), no
accounting (so job states come from ``squeue``, not ``sacct``), processes tracked without
cgroups. Every file (munge key and socket, slurm.conf, state, logs, pids) lives under the
folder given; the environment that clients need is :attr:`LocalSlurm.env` (``SLURM_CONF``).
One link lives outside it while the cluster runs: ``/etc/slurm/slurm.conf`` (the compiled-in
default) points to the folder's slurm.conf, because Snakemake's job-step plugin removes every
``SLURM_*`` variable, ``SLURM_CONF`` included, before its ``srun`` inside a job. The cluster
does not start when that file exists already (a real installation's), and the link is removed
on stop.

Needs root (slurmd starts jobs as their user) and the binaries ``munged``, ``slurmctld``,
``slurmd``, ``sbatch``, ``squeue``, ``sinfo``, ``scontrol`` (``make slurm``);
:func:`missing_requirements` names what is missing so that a test can skip with that reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol")
#: Where SLURM's commands look for their configuration when SLURM_CONF is not set.
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")
NODE = "merflow-node"


def missing_requirements() -> str | None:
    """Why a local cluster cannot start here, or None."""
    absent = [name for name in BINARIES if not Path(_binary(name)).exists()]
    if absent:
        return f"SLURM not installed (missing {', '.join(absent)}; `make slurm` installs slurm-wlm and munge)"
    if os.geteuid() != 0:
        return "a local SLURM cluster needs root (slurmd starts jobs as their user)"
    if DEFAULT_CONF.is_symlink() and not DEFAULT_CONF.exists():
        DEFAULT_CONF.unlink()  # the dangling link of a test cluster that was killed
    if DEFAULT_CONF.exists():
        return f"{DEFAULT_CONF} exists (a SLURM installation's): the test cluster would replace it"
    return None


def _binary(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


class LocalSlurm:
    """Start munged, slurmctld and slurmd under ``folder``; stop them by pid on exit."""

    def __init__(self, folder: Path, cpus: int | None = None) -> None:
        self.folder = Path(folder)
        self.cpus = cpus or os.cpu_count() or 1
        self.processes: dict[str, subprocess.Popen] = {}
        self.linked_default = False
        self.conf = self.folder / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    # ------------------------------------------------------------------ files
    def _write_files(self) -> None:
        f = self.folder
        for sub in ("state", "spool", "log", "munge"):
            (f / sub).mkdir(parents=True, exist_ok=True)
        (f / "munge").chmod(0o700)
        key = f / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        memory = max(1000, _memory_mb() - 1024)
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=merflow-test",
                    "SlurmctldHost=localhost(127.0.0.1)",
                    f"SlurmctldPort={_free_port()}",
                    f"SlurmdPort={_free_port()}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "AuthType=auth/munge",
                    "CredType=cred/munge",
                    f"AuthInfo=socket={f / 'munge' / 'munge.socket'}",
                    f"StateSaveLocation={f / 'state'}",
                    f"SlurmdSpoolDir={f / 'spool'}",
                    f"SlurmctldPidFile={f / 'slurmctld.pid'}",
                    f"SlurmdPidFile={f / 'slurmd.pid'}",
                    f"SlurmctldLogFile={f / 'log' / 'slurmctld.log'}",
                    f"SlurmdLogFile={f / 'log' / 'slurmd.log'}",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "AccountingStorageType=accounting_storage/none",
                    "SchedulerType=sched/backfill",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_CPU_Memory",
                    "GresTypes=gpu",
                    "MpiDefault=none",
                    "ReturnToService=2",
                    "SlurmdParameters=config_overrides",
                    "MinJobAge=600",  # finished jobs stay visible to squeue (the status command)
                    "KillWait=5",
                    f"NodeName={NODE} NodeAddr=127.0.0.1 NodeHostname={socket.gethostname()} "
                    f"CPUs={self.cpus} RealMemory={memory} Gres=gpu:1 State=UNKNOWN",
                    f"PartitionName=cpu Nodes={NODE} Default=YES MaxTime=INFINITE State=UP",
                    f"PartitionName=gpu Nodes={NODE} MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )
        (f / "gres.conf").write_text(f"NodeName={NODE} Name=gpu File=/dev/null\n")
        DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
        DEFAULT_CONF.symlink_to(self.conf)
        self.linked_default = True

    # ---------------------------------------------------------------- daemons
    def _start(self, name: str, command: list[str]) -> None:
        log = (self.folder / "log" / f"{name}.out").open("ab")
        self.processes[name] = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )

    def start(self, timeout_s: float = 60.0) -> LocalSlurm:
        """Write the configuration, start the three daemons, wait until the node is idle."""
        self._write_files()
        munge = self.folder / "munge"
        self._start(
            "munged",
            [
                _binary("munged"),
                "--foreground",
                "--force",
                f"--key-file={munge / 'munge.key'}",
                f"--socket={munge / 'munge.socket'}",
                f"--pid-file={munge / 'munged.pid'}",
                f"--log-file={self.folder / 'log' / 'munged.log'}",
                f"--seed-file={munge / 'munged.seed'}",
            ],
        )
        self._wait(lambda: (munge / "munge.socket").exists(), timeout_s, "munged's socket")
        self._start("slurmctld", [_binary("slurmctld"), "-D", "-i", "-f", str(self.conf)])
        self._start("slurmd", [_binary("slurmd"), "-D", "-N", NODE, "-f", str(self.conf)])
        self._wait(self._node_idle, timeout_s, f"node {NODE} idle")
        return self

    def _node_idle(self) -> bool:
        done = subprocess.run(
            [_binary("sinfo"), "--noheader", "--format=%T", f"--nodes={NODE}"],
            env=self.env,
            capture_output=True,
            text=True,
        )
        return done.returncode == 0 and "idle" in done.stdout

    def _wait(self, ready, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    status = f"{name} exited ({process.returncode}) while waiting for {what}"
                    raise RuntimeError(f"{status}:\n{self.logs()}")
            if ready():
                return
            time.sleep(0.5)
        raise TimeoutError(f"no {what} after {timeout_s:.0f} s:\n{self.logs()}")

    def logs(self) -> str:
        """The tail of every daemon log, for error messages."""
        parts = []
        for path in sorted((self.folder / "log").glob("*")):
            lines = path.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop the daemons this object started (SIGTERM, then SIGKILL), slurmd first."""
        for name in ("slurmd", "slurmctld", "munged"):
            process = self.processes.get(name)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self.linked_default and DEFAULT_CONF.is_symlink():
            DEFAULT_CONF.unlink()
            self.linked_default = False

    def running(self) -> list[str]:
        """Names of the started daemons still alive."""
        return [name for name, process in self.processes.items() if process.poll() is None]

    def __enter__(self) -> LocalSlurm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
