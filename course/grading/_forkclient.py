"""The kernel spec's command: ask the worker's fork server for a sandboxed kernel, and stand in for it.

    python -S _forkclient.py SOCKET SANDBOX-ARGS... -- python -m ipykernel_launcher -f FILE

Standard library only (it starts in a few milliseconds, without the course package). The kernel
manager sees this process as the kernel: signals sent to it (an interrupt) are passed on to the
kernel, it ends with the kernel's exit status, and when it is killed the fork server ends the
kernel's sandbox. It sends no environment: the sandbox makes its own. Without a fork server
there is no kernel (exit status 1): a sandboxed process has one way to start.
"""

import json
import os
import signal
import socket
import sys


def main(argv):
    path, args = argv[0], argv[1:]
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # through the folder's descriptor: the path may be longer than a Unix socket's 107 bytes
        # (as forkserver.socket_address does; this file imports the standard library only)
        folder = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY)
        conn.connect(f"/proc/self/fd/{folder}/{os.path.basename(path)}")
        os.close(folder)
        socket.send_fds(conn, [json.dumps({"kind": "kernel", "args": args}).encode()], [0, 1, 2])
        f = conn.makefile("rb")
        pid = int(f.readline())
    except (OSError, ValueError):
        print("course: the grading worker's fork server did not start the kernel", file=sys.stderr)
        sys.exit(1)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, lambda s, _frame: _forward(pid, s))
    line = f.readline().decode().split()
    sys.exit(int(line[1]) if len(line) == 2 and line[0] == "exit" else 1)


def _forward(pid, sig):
    try:
        os.kill(pid, sig)
    except OSError:
        pass


if __name__ == "__main__":
    main(sys.argv[1:])
