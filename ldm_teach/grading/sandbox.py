"""The sandbox of the student's kernel: bubblewrap (or unshare) namespaces, limits, no network.

The grader's pytest process stays outside; only the kernel, where the student's code runs,
is started inside (``SandboxedKernelManager``, installed into nbval by the grading plugin).
With Debian's ``bubblewrap`` (``bwrap``) the kernel gets:

- its own user, PID, network, IPC, UTS and cgroup namespaces (``--unshare-all``): no
  network at all, and it sees only its own processes in ``/proc``, so nothing of the
  grader (its environment, its command line, its files) can be read there, and every
  process the student's code starts dies with the kernel (``--die-with-parent``; a PID
  namespace ends when its first process does);
- a read-only view of the system, the Python environment and the package, and nothing
  else: the instructor's folders (solutions, reports, home) are not mounted, and the
  course's own ``solutions/`` and ``.git`` are hidden under empty folders;
- a private ``/tmp``, with the run's work folder (the kernel's working directory, deleted
  after the run) the only writable place;
- limits on address space and CPU time (``prlimit``), besides nbval's per-cell timeout.

The kernel talks to pytest over Unix sockets in the work folder (jupyter_client's ``ipc``
transport), since it has no network. Where ``bwrap`` is missing or cannot create
namespaces, ``unshare`` gives PID and network namespaces only (the filesystem stays
visible); where neither works the kernel runs unconfined. ``describe`` says which, and
every report records it.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

SPEC_ENV = "LDM_TEACH_GRADE_SANDBOX"  # JSON for the plugin: kind, work folder, limits
MEMORY_ENV = "LDM_TEACH_GRADE_MEMORY_MB"
KIND_ENV = "LDM_TEACH_SANDBOX"  # force "bwrap", "unshare" or "none" (tests, debugging)
DEFAULT_MEMORY_MB = 16384  # address space: torch maps far more than it uses
SYSTEM_DIRS = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc",
    "/opt",
    "/sys",
)


@functools.cache
def available() -> str:
    """The best sandbox this machine offers: "bwrap", "unshare" or "none" (each is tried
    once with a trivial command, so a binary that cannot create namespaces, e.g. inside a
    container without user namespaces, is not chosen)."""
    for kind, cmd in (
        (
            "bwrap",
            [
                "bwrap",
                "--unshare-all",
                "--die-with-parent",
                "--ro-bind",
                "/",
                "/",
                "--proc",
                "/proc",
                "--dev",
                "/dev",
                "true",
            ],
        ),
        (
            "unshare",
            [
                "unshare",
                "--user",
                "--map-root-user",
                "--pid",
                "--fork",
                "--net",
                "--mount-proc",
                "true",
            ],
        ),
    ):
        if shutil.which(cmd[0]) is None:
            continue
        try:
            if (
                subprocess.run(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=30,
                ).returncode
                == 0
            ):
                return kind
        except (OSError, subprocess.SubprocessError):
            continue
    return "none"


def chosen() -> str:
    """The sandbox grading uses: ``$LDM_TEACH_SANDBOX`` if set, else :func:`available`.

    Raises:
        ValueError: if ``$LDM_TEACH_SANDBOX`` is not one of bwrap, unshare, none.
    """
    forced = os.environ.get(KIND_ENV)
    if forced:
        if forced not in ("bwrap", "unshare", "none"):
            raise ValueError(f"{KIND_ENV} must be one of bwrap, unshare, none, got {forced!r}")
        return forced
    return available()


def memory_mb() -> int:
    """The kernel's address-space limit in MiB: ``$LDM_TEACH_GRADE_MEMORY_MB`` or 16384.

    Raises:
        ValueError: if the variable is not an integer >= 256.
    """
    raw = os.environ.get(MEMORY_ENV, str(DEFAULT_MEMORY_MB))
    if not raw.isdigit() or int(raw) < 256:
        raise ValueError(f"{MEMORY_ENV} must be an integer number of MiB >= 256, got {raw!r}")
    return int(raw)


def describe(kind: str) -> str:
    """One line for the reports on how the student's code was contained."""
    return {
        "bwrap": "bwrap: private /tmp, read-only system and package, no solutions or "
        "instructor files, no network, own PID namespace, memory and CPU limits",
        "unshare": "unshare: own PID and network namespaces only (files are NOT hidden: "
        "install Debian's bubblewrap for a full sandbox)",
        "none": "NONE: student code ran unconfined (no bwrap or unshare could run here)",
    }[kind]


def _package_root() -> Path:
    return Path(__file__).resolve().parents[2]


def readable_paths() -> list[str]:
    """What the kernel may read: system folders, the Python installation and every folder
    on ``sys.path`` (the package included), outermost first, existing ones only."""
    paths = {p for p in SYSTEM_DIRS if os.path.isdir(p)}
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path, str(_package_root())):
        if p and os.path.isdir(p):
            paths.add(os.path.realpath(p))
    ordered = sorted(paths, key=lambda p: (p.count(os.sep), p))
    # a folder inside another one is covered by it
    return [
        p
        for p in ordered
        if not any(p != q and p.startswith(q.rstrip(os.sep) + os.sep) for q in ordered)
    ]


def hidden_paths() -> list[str]:
    """Folders covered by an empty one inside the sandbox: the course's solutions and its
    git history (which holds every solution ever committed)."""
    root = _package_root()
    return [str(p) for p in (root / "solutions", root / ".git") if p.is_dir()]


def command_prefix(kind: str, work: str, memory_mb: int, cpu_s: int) -> list[str]:
    """The words to put before the kernel's command to run it in sandbox ``kind``."""
    limits = ["prlimit", f"--as={memory_mb * 1024 * 1024}", f"--cpu={cpu_s}", "--"]
    if shutil.which("prlimit") is None:
        limits = []
    if kind == "bwrap":
        cmd = [
            "bwrap",
            "--unshare-all",
            "--die-with-parent",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--tmpfs",
            "/tmp",
        ]
        for p in readable_paths():
            cmd += ["--ro-bind", p, p]
        for p in hidden_paths():
            cmd += ["--tmpfs", p]
        # no JPY_PARENT_PID: in its own PID namespace the kernel's parent has another pid,
        # and ipykernel would take that for its parent's death (--die-with-parent instead)
        cmd += [
            "--bind",
            work,
            work,
            "--chdir",
            work,
            "--setenv",
            "HOME",
            work,
            "--setenv",
            "TMPDIR",
            "/tmp",
            "--unsetenv",
            "JPY_PARENT_PID",
        ]
        return [*limits, *cmd, "--"]
    if kind == "unshare":
        return [
            *limits,
            "env",
            "-u",
            "JPY_PARENT_PID",
            "unshare",
            "--user",
            "--map-root-user",
            "--pid",
            "--fork",
            "--net",
            "--mount-proc",
            "--kill-child",
            "--",
        ]
    return limits


def install(spec: dict) -> None:
    """Make nbval start its kernels in the sandbox ``spec`` describes (in pytest's process).

    Args:
        spec: {"kind": "bwrap"|"unshare"|"none", "work": folder, "memory_mb": int,
            "cpu_s": int}.
    """
    import nbval.kernel
    from jupyter_client.manager import KernelManager

    prefix = command_prefix(spec["kind"], spec["work"], int(spec["memory_mb"]), int(spec["cpu_s"]))
    ipc = spec["kind"] in ("bwrap", "unshare")  # no network inside: Unix sockets

    class SandboxedKernelManager(KernelManager):
        """nbval's KernelManager, with the kernel's command run inside the sandbox."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            # in the work folder: the kernel sees nothing else of the host's /tmp
            self.connection_file = os.path.join(spec["work"], ".kernel-connection.json")
            if ipc:
                self.transport = "ipc"
                self.ip = os.path.join(spec["work"], ".kernel-ipc")
                self.cache_ports = False

        def format_kernel_cmd(self, extra_arguments=None):
            return [*prefix, *super().format_kernel_cmd(extra_arguments)]

    nbval.kernel.KernelManager = SandboxedKernelManager
