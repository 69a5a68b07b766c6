#!/usr/bin/env python3
"""Split `perf script` call stacks of a boot storm by process and by kernel path.

Where a TFTP storm's CPU goes (docs/benchmarks.md, "Where the storm time
goes"): for each process name given, the share of all samples it took, then
its samples sorted into the paths a lock-step block crosses (sending DATA,
the kernel delivering a packet into the peer's socket, the read of the
reply, the Go netpoller) and, for the rest, the leaf function.

    perf record -a -g -o storm.data -- sleep 20     # during the storm
    perf script -i storm.data > storm.txt
    scripts/perf-split.py storm.txt rpi-tftpd benchbin swapper
"""
import collections
import sys


def category(syms, leaf_is_kernel):
    """Name the path one stack (leaf first) belongs to."""
    st = " ".join(syms)
    if "process_backlog" in st:
        if "br_handle_frame" in st and any(s in st for s in ("__udp4_lib_rcv", "udp_rcv", "ip_rcv", "ip_local_deliver")):
            return "rx: bridge, then IP/UDP delivery into a socket"
        if "br_handle_frame" in st:
            return "rx: bridge"
        if "packet_rcv" in st:
            return "rx: packet socket tap"
        return "rx: veth backlog, delivery into the peer's socket"
    if any(s in st for s in ("ksys_write", "__sys_sendto", "__sys_sendmsg")):
        if any(s in st for s in ("dev_queue_xmit", "dev_hard_start_xmit", "veth_xmit")):
            return "tx: device transmit"
        if "ip_make_skb" in st or "__ip_append_data" in st:
            return "tx: building the packet"
        return "tx: udp_sendmsg, other"
    if "ksys_read" in st or "__sys_recvfrom" in st:
        return "read of the reply (syscall)"
    if "netpoll" in st:
        return "Go netpoller (epoll_wait)"
    if not syms:
        return "?"
    return ("kernel: " if leaf_is_kernel else "user: ") + syms[0]


def main(path, comms):
    stacks = open(path).read().split("\n\n")
    total = len(stacks)
    for comm in comms:
        counts = collections.Counter()
        n = 0
        for s in stacks:
            lines = s.strip().split("\n")
            if not lines or not lines[0].split() or lines[0].split()[0] != comm:
                continue
            n += 1
            frames = [l.split() for l in lines[1:] if len(l.split()) > 1]
            syms = [f[1].split("+")[0] for f in frames]
            counts[category(syms, bool(frames) and frames[0][-1].startswith("([kernel"))] += 1
        print("%s: %.1f %% of all samples" % (comm, 100 * n / max(total, 1)))
        for k, v in counts.most_common(15):
            print("  %5.1f %%  %s" % (100 * v / max(n, 1), k))
        print()


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: perf-split.py PERF_SCRIPT_OUTPUT COMM...")
    main(sys.argv[1], sys.argv[2:])
