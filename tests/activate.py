#!/usr/bin/env python3
"""A stand-in for systemd's socket activation (sd_listen_fds(3)): puts fd 3 in place and execs PROGRAM
with LISTEN_FDS=1 and LISTEN_PID set to its own pid, which exec keeps.

Usage: activate.py socket PATH PROGRAM [ARG]...  a listening Unix stream socket bound at PATH, mode 0660
                                                  (as brigd.socket's SocketMode=); its inode in PATH.inode
       activate.py file PATH PROGRAM [ARG]...    a regular file instead, which brigd must refuse"""
import os
import socket
import sys

kind, path, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
if kind == "socket":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    os.chmod(path, 0o660)
    s.listen(16)
    with open(path + ".inode", "w", encoding="utf-8") as f:
        f.write(f"{os.stat(path).st_ino}\n")
    fd = s.fileno()
else:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
if fd != 3:
    os.dup2(fd, 3)
os.set_inheritable(3, True)
env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
os.execve(argv[0], argv, env)
