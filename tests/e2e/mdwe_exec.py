"""Run a command under the seccomp filter systemd installs for MemoryDenyWriteExecute=yes.

Usage: python mdwe_exec.py CMD [ARGS...]

Like systemd (src/shared/seccomp-util.c, seccomp_memory_deny_write_execute), it makes
mmap(PROT_WRITE|PROT_EXEC), mprotect/pkey_mprotect(PROT_EXEC) and shmat(SHM_EXEC) fail with
EPERM, then execs the command; the filter survives exec. Uses libseccomp through ctypes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

PROT_WRITE, PROT_EXEC, SHM_EXEC = 0x2, 0x4, 0o100000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_MASKED_EQ = 7
EPERM = 1


class ArgCmp(ctypes.Structure):
    _fields_ = [  # ctypes layout of struct scmp_arg_cmp
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def install() -> None:
    lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(ArgCmp),
    ]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    deny = 0x00050000 | EPERM  # SCMP_ACT_ERRNO(EPERM)
    rules = [
        ("mmap", PROT_WRITE | PROT_EXEC),
        ("mprotect", PROT_EXEC),
        ("pkey_mprotect", PROT_EXEC),
        ("shmat", SHM_EXEC),
    ]
    for name, mask in rules:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        cmp = ArgCmp(2, SCMP_CMP_MASKED_EQ, mask, mask)
        if lib.seccomp_rule_add_array(ctx, deny, nr, 1, ctypes.byref(cmp)) != 0:
            raise OSError(f"seccomp_rule_add {name} failed")
    if lib.seccomp_load(ctx) != 0:
        raise OSError("seccomp_load failed")


if __name__ == "__main__":
    install()
    os.execvp(sys.argv[1], sys.argv[1:])  # noqa: S606  # the test's own command
