"""Kernels for nbgrader, started in the sandbox by jupyter_client's provisioner API.

nbgrader's executor asks its kernel manager for a kernel; here the manager's kernel spec (held
in memory: no ``kernel.json``, no ``JUPYTER_PATH``) names :class:`SandboxProvisioner`,
registered as the ``jupyter_client.kernel_provisioners`` entry point ``course-sandbox``
(pyproject.toml). The provisioner asks the worker's fork server (:mod:`course.grading.forkserver`)
for a ``kernel`` child and holds the connection it answers on: the kernel is a process of the
sandbox, never of this one, and the grader's side only writes the connection file and talks ZMQ.

How the manager's calls map onto the fork server's protocol:

* ``launch_kernel``: a request with the sandbox's arguments and the kernel's command (the
  connection file the manager wrote); stdin and stdout go nowhere, stderr is the worker's;
* ``poll`` / ``wait``: the server's ``exit CODE`` line;
* ``send_signal``: the interrupt (SIGINT) reaches the kernel; any other signal ends its
  sandbox (:func:`course.grading.sandbox.fork` forwards it so);
* ``kill``: the connection closed, on which the server ends the sandbox -- as it does when this
  process dies, so no kernel outlives its worker.

    configure(nb_api.config, forkserver_socket, sandbox.command_args(limits, workdir))
"""

import asyncio
import os
import signal
import sys

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute
from traitlets import List, Unicode

from course.grading.forkserver import Child

#: The provisioner's entry point (pyproject.toml) and the kernel's name.
NAME = "course-sandbox"
#: The kernel's command; the manager fills in the connection file.
KERNEL_ARGV = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
#: nbgrader's autograde steps, in which :class:`SandboxedExecute` takes the place of ``Execute``.
STEPS = "autograde_preprocessors"


class SandboxProvisioner(LocalProvisioner):
    """A kernel forked by the fork server at :attr:`forkserver`, in a sandbox made with :attr:`sandbox_args`."""

    forkserver = Unicode(help="The fork server's socket path.").tag(config=True)
    sandbox_args = List(Unicode(), help="course.grading.sandbox.command_args(...)").tag(config=True)
    child = None  # the fork server's Child, while the kernel runs

    @property
    def has_process(self):
        return self.child is not None

    async def launch_kernel(self, cmd, **kwargs):
        if not self.forkserver or cmd[1:3] != KERNEL_ARGV[1:3]:
            raise RuntimeError("a sandboxed kernel needs the fork server and ipykernel's command")
        null = os.open(os.devnull, os.O_RDWR)
        try:  # (the request waits for the server's answer: a fork, milliseconds)
            self.child = Child.request(self.forkserver, "kernel", [*self.sandbox_args, "--", *cmd], [null, null, 2])
        except OSError:
            raise RuntimeError("the grading worker's fork server did not start the kernel") from None
        finally:
            os.close(null)
        self.pid = self.child.pid
        return self.connection_info

    async def poll(self):
        return None if self.child is None else self.child.poll()

    async def wait(self):
        if self.child is None:
            return 0
        while self.child.poll() is None:
            await asyncio.sleep(0.05)
        child, self.child = self.child, None
        return child.wait()  # (ended: closes the connection)

    async def send_signal(self, signum):
        if self.child is not None and self.child.poll() is None:
            try:
                os.kill(self.child.pid, signum)
            except ProcessLookupError:
                pass

    async def kill(self, restart=False):
        if self.child is not None:
            self.child.kill()  # the server ends the sandbox when its client goes away

    async def terminate(self, restart=False):
        await self.send_signal(signal.SIGTERM)

    async def cleanup(self, restart=False):
        await self.kill(restart)
        self.child = None
        await super().cleanup(restart)


class SandboxKernelManager(AsyncKernelManager):
    """nbgrader's kernel manager, with its kernel spec in memory: it names :class:`SandboxProvisioner`."""

    @property
    def kernel_spec(self):
        if self._kernel_spec is None:
            self._kernel_spec = KernelSpec(
                name=NAME,
                argv=KERNEL_ARGV,
                display_name="sandboxed Python",
                language="python",
                metadata={"kernel_provisioner": {"provisioner_name": NAME}},
            )
        return self._kernel_spec


class SandboxedExecute(Execute):
    """nbgrader's executor, whose kernels come from :class:`SandboxKernelManager`."""

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = SandboxKernelManager  # (nbgrader's Execute sets its own)
        super().__init__(*args, **kwargs)


def configure(config, forkserver, sandbox_args):
    """Makes the autograde of the nbgrader API whose traitlets ``config`` this is start its kernels
    with the fork server at ``forkserver``, in sandboxes made with ``sandbox_args``."""
    steps = config.Autograde.get(STEPS) or Autograde.class_traits()[STEPS].default()
    config.Autograde[STEPS] = [SandboxedExecute if p is Execute else p for p in steps]
    config.Execute.kernel_name = NAME
    config.SandboxProvisioner.forkserver = forkserver
    config.SandboxProvisioner.sandbox_args = list(sandbox_args)
