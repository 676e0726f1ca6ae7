// What `nfct --help` and `nfct COMMAND --help` print.
export const HELP = `nfct: the conntrack table, NFLOG and TRACE, for people and scripts.

Usage:
  nfct COMMAND [TABLE] [options]     as conntrack(8), with the same options and output
  nfct log --group N [options]       NFLOG packets as the kernel's LOG lines
  nfct log --kmsg | --file PATH      the LOG lines of the kernel log (nfct log --kmsg --help)
  nfct trace [options]               every rule a packet passes, grouped per packet
  nfct trace --kmsg | --file PATH    legacy TRACE lines of the kernel log, grouped per packet
  nfct top [options]                 what fills the table, live (nfct top --help)
  nfct doctor [options]              what is wrong, and what to run (nfct doctor --help)
  nfct flows [options]               a record per finished connection; IPFIX export (nfct flows --help)

Commands (conntrack syntax):
  -L [table]    List the table (conntrack, expect, dying, unconfirmed)
  -G            Get one entry (-p -s -d --sport --dport, or --icmp-type/-code/-id)
  -D [table]    Delete the matching entries
  -I / -A       Create an entry (-A: unless it exists); needs -p -s -d, ports, -t
  -U            Update the matching entries: -m MARK[/MASK], -t, -u, --label-add/--label-del
  -E            Show events until Ctrl-C (-e NEW,UPDATE,DESTROY)
  -F [table]    Flush the table (-f ipv4|ipv6)
  -C            Count the entries
  -S            Per-CPU statistics

Filters (-L -D -U -E):
  -s -d -r -q ADDR[/PREFIX]   original/reply source/destination
  -p PROTO  -f ipv4|ipv6      protocol, family
  --sport --dport --reply-port-src --reply-port-dst PORT
  -m MARK[/MASK]  -w ZONE  --orig-zone Z  --reply-zone Z  -u STATUS[,..]  --state STATE
  -l LABEL[,..]  -n/-g/-j ADDR (source/destination/any NAT)  --icmp-type/--icmp-code/--icmp-id N

Output:
  -o extended,id,timestamp,ktimestamp,labels,save,xml    as conntrack
  --json                                                 one JSON object per line (NDJSON, schema/*.json)
  -z                                                     zero the counters while listing

Namespaces:
  --netns NAME|PATH   work inside that network namespace (/run/netns/NAME or a path)
  --pid PID           work inside the network namespace of that process
  --all-netns         -L, -C, -S, -E (and nfct log) in every network namespace of the node;
                      text lines start with [NAME] (or [pod:UID], [pid:N]), --json adds "netns"

Prometheus: nfct exporter --help

Exit status: 0 done, 1 an operation failed, 2 a bad parameter.
`;

export const LOG_HELP =
  `Usage: nfct log --group N [--prefix-only] [--json] [--netns NAME|PATH | --pid PID | --all-netns]

Subscribes to NFLOG group N (as iptables -j NFLOG --nflog-group N, or nft log group N) and
prints each packet as the kernel's LOG target would log it, after its time:
  2024-06-13T19:58:21.123Z ssh: IN=eth0 OUT= MAC=... SRC=10.0.0.1 DST=10.0.0.2 LEN=60 ...
  --prefix-only   only the time and the rule's prefix
  --json          each packet as one JSON object per line: every attribute, the payload in
                  hex and decoded (ip, tcp, udp, icmp, ...); schema/packet.json
  --all-netns     group N in every network namespace of the node, namespaces followed as they
                  come and go; lines start with [NAME] (--json adds "netns"); a namespace where
                  another process holds the group (EBUSY) or that goes away is said once, skipped
Ctrl-C ends it and says how many packets were logged and lost (all namespaces together). A
group another process holds cannot be read (EBUSY): nfct says which process holds it.
The lines existing -j LOG and nft log rules (without group) write to the kernel log:
  nfct log --kmsg [--follow] | --file PATH [--follow]    (nfct log --kmsg --help)
`;

export const KERNEL_LOG_HELP =
  `Usage: nfct log --kmsg [--follow [--from-start]] [filters] [--json | --prefix-only] [--lines]
       nfct log --file PATH|- [--follow] [--from-end] [filters] [--json | --prefix-only] [--lines]

Reads the lines the LOG target (iptables -j LOG, nft log without group) writes to the kernel
log and prints each packet as NFLOG's path does, the kernel's text after its time:
  --kmsg          /dev/kmsg: what its ring buffer holds, then ends
  --follow, -F    keep reading: /dev/kmsg from now (--from-start: the ring buffer first);
                  a file as tail -F does, through rotation by rename and truncation
  --file PATH     a syslog file, dmesg or journalctl -k output (-o short-precise, -o json...);
                  - is standard input; --from-end: only lines written from now on
  --json          one JSON object per packet (NDJSON; losses are lines of their own)
  --lines         the kernel log's other lines too
Filters (checked as each line is read): --prefix TEXT (the rule's prefix starts with TEXT)
  -p PROTO   -s ADDR[/P]   -d ADDR[/P]   --sport N   --dport N   --port N   -f ipv4|ipv6
Ctrl-C ends it and says how many packets were logged and how many kernel log records were lost
(overwritten in the ring buffer before they were read). LOG lines of a network namespace other
than the host's are written only when net.netfilter.nf_log_all_netns is 1 (nfct doctor says
so), and a line does not say which namespace wrote it.
`;

export const TRACE_HELP = `Usage: nfct trace [--legacy | --nftables] [--json] [--bind-logger] [--show-own-hops] [match]
                  [--netns NAME|PATH | --pid PID | --pod NAMESPACE/NAME [--pod-log-dir DIR]]

Shows every rule each traced packet passes, one block per packet, the final verdict last: the
packet (ports, interfaces, hook, conntrack state), each rule as its own tool prints it
(iptables-save form for iptables and iptables-nft rules, nft form for nft rules) with the Service
a jump leads to, the packet again when a NAT rewrote it, and its fate.
  --nftables      only nftables / iptables-nft traces (meta nftrace set 1, iptables-nft -j TRACE)
  --legacy        only legacy iptables TRACE (NFLOG group 0)
  --bind-logger   bind the namespace's nf_log backend to nfnetlink_log (legacy; needs --netns),
                  restored on exit
  --json          one JSON object per packet: the packet once, the rules it passed once,
                  its hops by rule; schema/trace.json
  --show-own-hops also the hops of nfct's own marking table (nfct_trace_*), hidden by default
Match options install a temporary 'meta nftrace set 1' rule for just those packets (removed on
exit, Ctrl-C included):
  -p tcp|udp|icmp|icmpv6|sctp   -s ADDR[/P]   -d ADDR[/P]   --sport N   --dport N   --port N   -f ipv4|ipv6
One namespace at a time: --all-netns is refused (what tracing installs must not be left behind in
every namespace of the node by a process killed outright).
Legacy TRACE lines the syslog logger writes to the kernel log: nfct trace --kmsg | --file PATH
(nfct trace --kmsg --help).
`;

export const KERNEL_TRACE_HELP =
  `Usage: nfct trace --kmsg [--follow [--from-start]] [filters] [--json] [--netns NAME|PATH | --pid PID] [--no-rules]
       nfct trace --file PATH|- [--follow] [--from-end] [filters] [--json] [--netns NAME|PATH | --pid PID]

Reads legacy iptables TRACE lines (-j TRACE with the nf_log backend nf_log_ipv4/nf_log_ipv6)
from the kernel log and shows each packet's hops as one block, as nfct trace does:
  --kmsg, --file, --follow, --from-start, --from-end, --json   as for nfct log --kmsg
  --netns, --pid   the namespace whose rules (iptables-legacy-save) the hops are shown with; the
                   lines do not say which namespace wrote them. Without it, /dev/kmsg's hops are
                   shown with this namespace's rules when it is the host's and nf_log_all_netns=0
                   (then every line is the host's); a file's hops without rule texts
  --no-rules       no rule texts
Filters: -p PROTO   -s ADDR[/P]   -d ADDR[/P]   --sport N   --dport N   --port N   -f ipv4|ipv6
A packet's trace ends when no hop of it came for 250 ms.
`;

export const EXPORTER_HELP =
  `Usage: nfct exporter [--listen [HOST]:PORT] [--web-config FILE] [--events] [--nflog-group N]... [options]

Serves /metrics in the Prometheus text format: for every network namespace of the node, the
conntrack entries, the table limit and the per-CPU statistics (as conntrack -S), read over
netlink at each scrape, a few namespaces at once, and its own memory (process_resident_memory_bytes, nodejs_heap_size_used_bytes, ...).
/healthz answers whether it is up (never a scrape, no authentication), / links /metrics.
  --listen [HOST]:PORT   where to listen (default 127.0.0.1:9477; :PORT is every address)
  --web-config FILE      TLS, basic auth (bcrypt), headers, rate limit: the exporter toolkit's format
  --max-connections N    connections open at once; more are closed as they come (64)
  --header-timeout S     seconds a client may take to send its headers or TLS handshake (10)
  --events               count conntrack events by type in every namespace (a socket each)
  --nflog-group N        count NFLOG packets of group N by prefix (repeatable; the group must be free)
  --max-prefixes N       distinct prefixes per namespace and group; the rest count as "other" (32)
  --per-cpu              a cpu label on the statistics instead of their sum over CPUs
  --ipfix COLLECTOR      also send a flow record per finished connection of every namespace as
                         IPFIX to HOST:PORT (UDP) or tcp://HOST:PORT (repeatable; nfct flows --help)
  --enable-sysctls       with --ipfix: turn on nf_conntrack_acct/timestamp where off, until exit
  --netns-regex RE       only namespaces with an ip netns name, pod UID or NAMESPACE/NAME matching RE
  --pod-log-dir DIR      the kubelet's pod log directories, which name the pods (/var/log/pods)
  --max-namespaces N     export at most N namespaces (512); the rest are counted as skipped
  --concurrency N        namespaces read at once during a scrape (8)
Needs CAP_NET_ADMIN and CAP_SYS_ADMIN (and CAP_SYS_PTRACE to find namespaces by process).
Ctrl-C or SIGTERM stops it.
`;

export const FLOWS_HELP = `Usage: nfct flows [--json] [--ipfix [udp://|tcp://]HOST:PORT]... [filter] [options]

A record per finished connection, from the kernel's DESTROY events: original and reply
addresses before and after NAT, packets and bytes each way, start, end, duration, why it ended
(end-of-flow, idle-timeout, forced-end, active-timeout), the TCP state, mark and zone.
  --json                 one JSON object per line (NDJSON); a "summary" line at exit
  --ipfix COLLECTOR      send IPFIX to HOST:PORT (UDP), udp://HOST:PORT or tcp://HOST:PORT
                         (repeatable); records are then not printed unless --print or --json
  --print                print the records too when exporting
  --active-timeout S     also a record every S seconds for connections still open (counter deltas)
  --enable-sysctls       turn on nf_conntrack_acct and nf_conntrack_timestamp where they are off,
                         until nfct exits (they take effect for connections created afterwards)
  --ipfix-mtu N          largest IPFIX message in bytes (1400)
  --template-refresh S   UDP: send the IPFIX templates again every S seconds (60)
  --netns NAME|PATH | --pid PID | --all-netns
                         the namespace to watch, or every namespace of the node (each its own
                         IPFIX observation domain: the namespace's inode)
  --netns-regex RE       with --all-netns: only namespaces with an ip netns name or pod UID matching RE
Filter: -p PROTO  -f ipv4|ipv6  -s ADDR[/P]  -d ADDR[/P]  --sport N  --dport N  -m MARK  -w ZONE
Ctrl-C or SIGTERM ends it; it then says how many records it wrote and exported, the overruns
(DESTROY events the kernel dropped) and what each collector lost.
`;
