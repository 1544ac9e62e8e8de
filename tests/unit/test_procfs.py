"""procfs: the /proc tables read as text, and the ports and process tree of a real process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from grader.run import procfs

# /proc/net/tcp as the kernel renders it: a header, then one socket a line (hex address:port, state, ..., inode).
TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1389 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 51234 1 0000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 51235 1 0000 20 4 30 10 -1
   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000 100 0 0 10 0
"""
TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 9001 1 0000 100 0 0 10 0
"""  # noqa: E501


def test_listening_sockets_of_a_table_by_inode():
    assert procfs.parse_listen_table(TCP) == {"51234": 5001, "777": 80}  # not the established connection
    assert procfs.parse_listen_table(TCP6) == {"9001": 8080}
    assert procfs.parse_listen_table("") == {}


def test_socket_inode_of_an_fd_link():
    assert procfs.socket_inode("socket:[51234]") == "51234"
    assert procfs.socket_inode("pipe:[51234]") is None
    assert procfs.socket_inode("/dev/null") is None


def test_our_own_listening_socket_is_found_unless_handed_over():
    with socket.socket() as sock:
        sock.bind((procfs.HOST, 0))
        sock.listen()
        port = sock.getsockname()[1]
        inode = str(os.fstat(sock.fileno()).st_ino)
        assert port in procfs.listening_ports(os.getpid(), port, handed_over=None)
        assert port not in procfs.listening_ports(os.getpid(), port, handed_over=inode)
        assert procfs.port_open(port) and not procfs.port_is_free(port)
    assert procfs.port_is_free(port)


def test_the_tree_holds_a_child_until_it_is_gone():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert child.pid in procfs.children(os.getpid())
        assert procfs.tree_pids(os.getpid())[0] == os.getpid() and child.pid in procfs.tree_pids(os.getpid())
        assert child.pid in [p.pid for p in procfs.tree(os.getpid())]
    finally:
        child.kill()
        child.wait()
    assert child.pid not in procfs.tree_pids(os.getpid())
    assert procfs.tree(child.pid) == [] and procfs.children(child.pid) == []


def test_a_free_port_is_free():
    assert procfs.port_is_free(procfs.free_port())
