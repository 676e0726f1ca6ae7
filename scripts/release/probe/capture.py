#!/usr/bin/env python3
# Reads ctnetlink messages straight from the kernel, with no netfilter library, for the
# linux-arm64 check (qemu-user refuses the socket, so the arm64 addon is handed the kernel's own
# bytes instead):
#   capture.py dump FILE            the conntrack table of this namespace, as the kernel dumps it
#   capture.py event FILE CMD...    subscribes to NEW events, runs CMD, keeps the first event
# FILE gets the netlink messages back to back (each begins with its own length).
import socket, struct, subprocess, sys

NETLINK_NETFILTER = 12
NFNL_SUBSYS_CTNETLINK = 1
IPCTNL_MSG_CT_GET = 1
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
NFNLGRP_CONNTRACK_NEW = 1


def messages(data):
    off = 0
    while off + 16 <= len(data):
        length, mtype = struct.unpack_from('=IH', data, off)
        if length < 16:
            break
        yield mtype, data[off:off + length]
        off += (length + 3) & ~3


def main():
    mode, out = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    s.settimeout(20)
    kept = []
    if mode == 'dump':
        s.bind((0, 0))
        header = struct.pack('=IHHII', 20, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
        s.send(header + struct.pack('=BBH', socket.AF_UNSPEC, 0, 0))
        done = False
        while not done:
            for mtype, msg in messages(s.recv(1 << 16)):
                if mtype == NLMSG_DONE:
                    done = True
                elif mtype == NLMSG_ERROR:
                    sys.exit('capture.py: the dump failed')
                else:
                    kept.append(msg)
    elif mode == 'event':
        s.bind((0, 1 << (NFNLGRP_CONNTRACK_NEW - 1)))
        subprocess.run(sys.argv[3:], check=True)
        kept.extend(msg for _, msg in list(messages(s.recv(1 << 16)))[:1])
    with open(out, 'wb') as f:
        for msg in kept:
            f.write(msg)
    print(f'capture.py: {len(kept)} message(s) from the kernel', file=sys.stderr)


main()
