"""nbgrader's kernels: asked of the fork server by a jupyter_client kernel provisioner, nothing standing in."""

import asyncio
import os
import time

import pytest
from traitlets.config import Config

from course.grading import sandbox
from course.grading.provisioner import NAME, SandboxKernelManager, SandboxProvisioner

isolated = pytest.mark.skipif(sandbox.backend() == "none", reason="this machine cannot isolate (no user namespaces)")


@pytest.fixture
def kernel(server, tmp_path, monkeypatch):
    """A started kernel's manager, as the grading worker configures it (ZMQ over socket files)."""
    # the connection file: where the fork server sees it
    # (in pytest's folder, which the fork server sees under either backend: not a temporary file in /tmp,
    # which a fork server confined by bubblewrap, as an ordinary user's is, does not see)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    (tmp_path / "runtime").mkdir()
    workdir = tmp_path / "kernel"
    (workdir / sandbox.IPC_FOLDER).mkdir(parents=True)
    cfg = Config()
    cfg.KernelManager.transport = "ipc"
    cfg.KernelManager.connection_file = str(tmp_path / "runtime" / "kernel.json")
    cfg.KernelManager.ip = str(workdir / sandbox.IPC_FOLDER / "kernel")
    cfg.SandboxProvisioner.forkserver = server.path
    cfg.SandboxProvisioner.sandbox_args = sandbox.command_args(sandbox.Limits(), str(workdir))
    km = SandboxKernelManager(kernel_name=NAME, config=cfg)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(km.start_kernel())
    yield km, loop
    loop.run_until_complete(km.shutdown_kernel(now=True))
    loop.close()


def _run(km, loop, code, interrupt_after=None):
    """What ``code`` prints in the kernel (after an interrupt ``interrupt_after`` s into it, if given)."""

    async def run():
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            printed = []
            hook = lambda msg: printed.append(msg["content"].get("text", ""))  # noqa: E731
            run = asyncio.ensure_future(kc.execute_interactive(code, timeout=60, output_hook=hook))
            if interrupt_after is not None:
                await asyncio.sleep(interrupt_after)
                await km.interrupt_kernel()
            await run
            return "".join(printed)
        finally:
            kc.stop_channels()

    return loop.run_until_complete(run())


def _parent(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _gone(pid, within_s=5):
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_the_kernels_process_is_the_fork_servers_child_not_the_graders(server, kernel):
    km, loop = kernel
    assert isinstance(km.provisioner, SandboxProvisioner), "the kernel spec must name the course's provisioner"
    pid, ancestors = km.provisioner.pid, []
    while pid > 1 and len(ancestors) < 10:
        pid = _parent(pid)
        ancestors.append(pid)
    assert ancestors[0] != os.getpid(), "a process of the grader's stands in for the kernel"
    assert server.proc.pid in ancestors, f"the kernel {km.provisioner.pid} is not a child of the fork server"
    assert _run(km, loop, "print(6 * 7)").strip() == "42"


@isolated
def test_the_kernel_runs_in_a_pid_namespace_of_its_own(kernel):
    km, loop = kernel
    assert _run(km, loop, "import os\nprint(os.getpid())").strip() == "1", "the kernel is not in its sandbox"


def test_an_interrupt_reaches_the_sandboxed_kernel(kernel):
    km, loop = kernel
    code = "import time\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    print('interrupted')"
    assert "interrupted" in _run(km, loop, code, interrupt_after=2), "the kernel did not get the interrupt"
    assert _run(km, loop, "print('alive')").strip() == "alive", "the interrupt ended the kernel"


def test_a_kernel_that_exits_is_seen_dead(kernel):
    km, loop = kernel
    kc = km.client()
    kc.start_channels()
    loop.run_until_complete(kc.wait_for_ready(timeout=60))
    kc.execute("import os\nos._exit(3)")
    deadline = time.monotonic() + 10
    while loop.run_until_complete(km.is_alive()) and time.monotonic() < deadline:
        time.sleep(0.05)
    kc.stop_channels()
    assert not loop.run_until_complete(km.is_alive()), "the manager still thinks an ended kernel runs"


def test_shutting_the_kernel_down_ends_its_sandbox(kernel):
    km, loop = kernel
    pid = km.provisioner.pid
    loop.run_until_complete(km.shutdown_kernel(now=True))
    assert _gone(pid), f"the kernel's sandbox {pid} still runs after its shutdown"
