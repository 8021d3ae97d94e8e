"""The Linux calls Python's standard library lacks, through ``ctypes``: namespaces, mounts, capabilities.

The one place for them: the sandbox (:mod:`course.grading.sandbox`) builds a student's view with
them, the hub (:mod:`course.programs.hub`) a user's. Each call raises ``OSError`` (its errno, and
what was attempted) when the kernel refuses it.
"""

import ctypes
import os
import platform

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 1024, 2048, 4096, 16384
MS_PRIVATE, MS_RELATIME = 1 << 18, 1 << 21
MNT_DETACH = 2
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())
#: ``_LINUX_CAPABILITY_VERSION_3``, for :func:`clear_capabilities`.
_CAPABILITY_VERSION = 0x20080522

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _enc(s):
    return None if s is None else os.fsencode(s)


def mount(source, target, fstype=None, flags=0, data=None):
    """mount(2); ``None`` for what a remount or a bind leaves out."""
    _check(_libc.mount(_enc(source), _enc(target), _enc(fstype), ctypes.c_ulong(flags), _enc(data)), f"mount {target}")


def umount(target, flags=MNT_DETACH):
    """umount2(2), detached by default (the mount goes once nothing uses it)."""
    _check(_libc.umount2(os.fsencode(target), flags), f"umount {target}")


def unshare(flags):
    """unshare(2): this process into new namespaces (``CLONE_NEW*``)."""
    _check(_libc.unshare(flags), "unshare")


def pivot_root_here():
    """pivot_root(".", "."): the current folder becomes the root; the old root lies on top of it,
    to be detached with ``umount(".")``."""
    if SYS_PIVOT_ROOT is None:
        raise OSError(0, f"pivot_root: unknown on {platform.machine()}")
    _check(_libc.syscall(SYS_PIVOT_ROOT, b".", b"."), "pivot_root")


def sethostname(name):
    """sethostname(2), unchecked (the name is cosmetic): returns its result."""
    return _libc.sethostname(os.fsencode(name), len(os.fsencode(name)))


def prctl(option, arg2=0, arg3=0, arg4=0, arg5=0):
    """prctl(2); returns its result (callers that must not fail check it)."""
    return _libc.prctl(option, arg2, arg3, arg4, arg5)


def drop_bounding_set():
    """No capability can come back through exec: the bounding set emptied, the ambient set cleared."""
    for cap in range(64):
        if prctl(PR_CAPBSET_DROP, cap) != 0:
            break  # past the last capability this kernel knows
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)


def clear_capabilities():
    """capset(2): the effective, permitted and inheritable sets emptied."""
    header = (ctypes.c_uint32 * 2)(_CAPABILITY_VERSION, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(_libc.capset(header, data), "capset")


def no_new_privs():
    _check(prctl(PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")
