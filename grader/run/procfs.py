"""Ports and process trees, read from the kernel: what the readiness loop and the teardown need to see.

Linux's ``/proc`` is read directly where it is fast enough for the loop a
student waits on (psutil scans every process on the machine); psutil is the
fall-back where ``/proc`` has no network tables, and finds the tree to kill
at the end.  The text parsing is split from the reading, so it can be tested
on given text.
"""

from __future__ import annotations

import os
import socket
import time

import psutil  # type: ignore[import-untyped]  # no types-psutil in the dev group

HOST = "127.0.0.1"
#: A socket's link in ``/proc/PID/fd``: ``socket:[INODE]``.
_SOCKET_LINK = ("socket:[", "]")
TCP_LISTEN = "0A"


def free_port() -> int:
    """A port the kernel says is free now on 127.0.0.1."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    """Nothing listens on ``port`` (a socket could bind it now)."""
    with socket.socket() as s:
        if os.name != "nt":  # on Windows SO_REUSEADDR would let it bind a port that another socket listens on
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def wait_port_free(port: int, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``port`` to be free (a stopped server's port closes a moment later)."""
    deadline = time.monotonic() + seconds
    while not port_is_free(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def port_open(port: int) -> bool:
    """Something accepts connections on ``port``: a quick look before the slower :func:`listening_ports`."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((HOST, port)) == 0


def children(pid: int) -> list[int]:
    """The children of ``pid``, from the kernel's per-task children lists ([] once it is gone)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found.extend(int(child) for child in f.read().split())
        except OSError:
            continue
    return found


def first_child(pid: int) -> int | None:
    """The first child of ``pid``'s main thread (bwrap's child: the init of the sandbox's pid namespace)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            found = f.read().split()
    except OSError:
        return None
    return int(found[0]) if found else None


def tree_pids(root: int) -> list[int]:
    """``root`` and its descendants.

    Read directly rather than with psutil, which scans every process on
    the machine: this runs in the readiness loop that a student waits on.
    """
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children(pid))
    return pids


def tree(root: int) -> list[psutil.Process]:
    """``root`` and its descendants as psutil processes, to kill ([] once it is gone)."""
    try:
        process = psutil.Process(root)
        return [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def parse_listen_table(text: str) -> dict[str, int]:
    """Socket inode -> port of each listening socket in a ``/proc/PID/net/tcp`` (or ``tcp6``) table."""
    by_inode: dict[str, int] = {}
    for line in text.splitlines()[1:]:  # the first line names the columns
        fields = line.split()
        if fields[3] == TCP_LISTEN:
            by_inode[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    return by_inode


def socket_inode(link: str) -> str | None:
    """The inode in a ``/proc/PID/fd`` link that names a socket (``socket:[123]`` -> ``123``), else None."""
    start, end = _SOCKET_LINK
    if link.startswith(start) and link.endswith(end):
        return link[len(start) : -len(end)]
    return None


def _listen_table(pid: int, port: int) -> dict[str, int]:
    """The listening sockets of ``pid``'s network namespace (inode -> port)."""
    by_inode: dict[str, int] = {}
    # The kernel takes milliseconds to render each table; tcp6 only matters when
    # the server is not found on IPv4 (a --command server bound to "::").
    for table in (f"/proc/{pid}/net/tcp", f"/proc/{pid}/net/tcp6"):
        try:
            with open(table) as f:
                by_inode.update(parse_listen_table(f.read()))
        except OSError:
            continue
        if port in by_inode.values():
            break
    return by_inode


def listening_ports(root: int, port: int, handed_over: str | None) -> set[int]:
    """TCP ports ``root`` or its descendants listen on, besides the socket we handed it (inode ``handed_over``).

    Read from /proc (psutil elsewhere).  Each process is looked up in the
    tables of its own network namespace (``/proc/PID/net/tcp``): inside
    the sandbox, a server that binds a port of its own does so in a
    namespace of its own.  ``port`` is the one we look for: once it is found
    in IPv4's table, IPv6's is not read.
    """
    if not os.path.exists("/proc/net/tcp"):
        return listening_ports_psutil(root)
    tables: dict[str, dict[str, int]] = {}  # network namespace -> socket inode -> port
    ports = set()
    for pid in tree_pids(root):
        try:
            netns = os.readlink(f"/proc/{pid}/ns/net")
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        if netns not in tables:
            tables[netns] = _listen_table(pid, port)
        by_inode = tables[netns]
        for fd in fds:
            try:
                inode = socket_inode(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                continue
            if inode is not None and inode in by_inode and inode != handed_over:
                ports.add(by_inode[inode])
    return ports


def listening_ports_psutil(root: int) -> set[int]:
    """:func:`listening_ports` without ``/proc`` (not Linux, or the portable backend), our socket included."""
    return listening_ports_of(tree(root))


def listening_ports_of(processes: list[psutil.Process]) -> set[int]:
    """The TCP ports that any of ``processes`` listens on (psutil), skipping those gone or unreadable."""
    ports: set[int] = set()
    for process in processes:
        try:
            connections = process.net_connections(kind="inet")
        except psutil.Error:
            continue
        ports.update(c.laddr.port for c in connections if c.status == psutil.CONN_LISTEN)
    return ports


def kill_all(processes: list[psutil.Process]) -> None:
    """SIGKILL each of ``processes`` that is still there."""
    for process in processes:
        try:
            process.kill()
        except psutil.Error:
            pass
