/* Shared helpers for the bench C tools: netlink socket set-up, option
 * parsing, the conntrack dump loop (ct_rawwalk, ct_lnfct_parse), the event
 * receivers' clock (ct_events, nflog_recv), batched conntrack writes
 * (ct_fill, ct_churn: define BENCH_CT_WRITER before including this), timing
 * and peak RSS. Header-only so build.sh stays a one-liner per tool. */
#ifndef NFCT_BENCH_COMMON_H
#define NFCT_BENCH_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <libmnl/libmnl.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define CT_MSG(type) ((NFNL_SUBSYS_CTNETLINK << 8) | (type))

static inline void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* Parses an unsigned number (decimal, 0x hex, 0 octal), or dies naming `what`. */
static inline unsigned long parse_ul(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || end == s)
		die("invalid %s '%s'", what, s);
	return v;
}

static inline double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Peak resident set size of this process (VmHWM), in kB; -1 if unknown. */
static inline long vmhwm_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "VmHWM:", 6) == 0) {
			kb = strtol(line + 6, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

/* The bench tools are meant for throwaway namespaces (ip netns exec NS ...)
 * and refuse to run in the initial network namespace unless explicitly
 * allowed. Identified by comparing with PID 1's netns when that is readable,
 * else by the nf_conntrack_max sysctl, which the kernel makes writable only
 * in the initial netns (mode 0644 there, 0444 elsewhere). */
static inline void refuse_init_netns(int argc, char **argv)
{
	struct stat self, init;
	int in_init;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--allow-init-netns") == 0)
			return;
	if (stat("/proc/self/ns/net", &self) == 0 && stat("/proc/1/ns/net", &init) == 0) {
		in_init = self.st_ino == init.st_ino && self.st_dev == init.st_dev;
	} else if (stat("/proc/sys/net/netfilter/nf_conntrack_max", &self) == 0) {
		in_init = (self.st_mode & S_IWUSR) != 0;
	} else {
		die("cannot tell which network namespace this is (%s); "
		    "pass --allow-init-netns to run anyway", strerror(errno));
		return;
	}
	if (in_init)
		die("refusing to run in the initial network namespace: use "
		    "'ip netns exec NS %s ...' (or pass --allow-init-netns)", argv[0]);
}

/* Opens and binds a NETLINK_NETFILTER socket with a receive buffer of at
 * least rcvbuf bytes (SO_RCVBUFFORCE when permitted, else SO_RCVBUF). */
static inline struct mnl_socket *ct_socket_open(int rcvbuf)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	int fd, one = 1;

	if (!nl)
		die("mnl_socket_open: %s", strerror(errno));
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		die("mnl_socket_bind: %s", strerror(errno));
	fd = mnl_socket_get_fd(nl);
	if (rcvbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	/* Errors then carry only the offending header, not the whole message. */
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	return nl;
}

/* Parses "ipv4" | "ipv6" | "all" into an nfgen_family value. */
static inline uint8_t parse_family(const char *s)
{
	if (strcmp(s, "ipv4") == 0)
		return AF_INET;
	if (strcmp(s, "ipv6") == 0)
		return AF_INET6;
	if (strcmp(s, "all") == 0)
		return AF_UNSPEC;
	die("unknown family '%s' (ipv4|ipv6|all)", s);
	return 0;
}

/* Puts the netlink and nfgenmsg headers of a ctnetlink request of `type`
 * (IPCTNL_MSG_CT_*) at `at`; NLM_F_REQUEST is always set. */
static inline struct nlmsghdr *ct_put_header(void *at, uint8_t type, uint16_t flags, uint32_t seq,
					     uint8_t family)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(at);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = CT_MSG(type);
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	return nlh;
}

static inline void ct_send_dump(struct mnl_socket *nl, uint8_t family, uint32_t seq)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = ct_put_header(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, seq, family);

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		die("sendto (dump request): %s", strerror(errno));
}

struct dump_stats {
	unsigned long entries;   /* conntrack messages seen */
	unsigned long recvs;     /* recv() calls that returned data */
	unsigned long bytes;     /* total bytes received */
	long first_chunk, min_chunk, max_chunk;
	unsigned long enobufs;   /* recv() reported ENOBUFS (should never happen for a dump) */
	double seconds;          /* from sending the request to NLMSG_DONE */
};

typedef void (*ct_msg_cb)(const struct nlmsghdr *nlh, void *data);

/* recv() on a netlink socket, again after EINTR; an ENOBUFS (the kernel dropped messages for
 * this socket) is counted in *enobufs and read past. Returns the bytes read, or -1 when nothing
 * is queued (EAGAIN, with MSG_DONTWAIT); any other error ends the tool. */
static inline ssize_t nl_recv(int fd, void *buf, size_t len, int flags, unsigned long *enobufs)
{
	for (;;) {
		ssize_t n = recv(fd, buf, len, flags);

		if (n >= 0)
			return n;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -1;
		if (errno == ENOBUFS)
			++*enobufs;
		else if (errno != EINTR)
			die("recv: %s", strerror(errno));
	}
}

/* Sends one dump request and receives until NLMSG_DONE. cb (may be NULL)
 * sees every conntrack message. Returns 0, or the errno of an
 * NLMSG_ERROR that ended the dump. */
static inline int ct_dump(struct mnl_socket *nl, uint8_t family, char *buf, size_t bufsz,
			  ct_msg_cb cb, void *data, struct dump_stats *st)
{
	const uint32_t seq = (uint32_t)time(NULL);
	const uint32_t portid = mnl_socket_get_portid(nl);
	double t0;

	memset(st, 0, sizeof(*st));
	st->min_chunk = -1;
	t0 = now_s();
	ct_send_dump(nl, family, seq);
	for (;;) {
		ssize_t n = nl_recv(mnl_socket_get_fd(nl), buf, bufsz, 0, &st->enobufs);
		const struct nlmsghdr *nlh;
		int len;

		if (n < 0)
			die("recv: %s", strerror(errno));
		if (n == 0)
			die("recv: unexpected end of stream");
		if (st->recvs++ == 0)
			st->first_chunk = n;
		st->bytes += (unsigned long)n;
		if (st->min_chunk < 0 || n < st->min_chunk)
			st->min_chunk = n;
		if (n > st->max_chunk)
			st->max_chunk = n;

		len = (int)n;
		for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_seq != seq || nlh->nlmsg_pid != portid)
				continue;
			if (nlh->nlmsg_type == NLMSG_DONE) {
				st->seconds = now_s() - t0;
				return 0;
			}
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
				st->seconds = now_s() - t0;
				return e->error ? -e->error : EPROTO;
			}
			st->entries++;
			if (cb)
				cb(nlh, data);
		}
	}
}

static inline void print_dump_stats(const struct dump_stats *st)
{
	printf("entries %lu\n", st->entries);
	printf("seconds %.6f\n", st->seconds);
	printf("recv_calls %lu\n", st->recvs);
	printf("recv_bytes %lu\n", st->bytes);
	printf("recv_first %ld\n", st->first_chunk);
	printf("recv_min %ld\n", st->min_chunk);
	printf("recv_max %ld\n", st->max_chunk);
	printf("recv_avg %.0f\n", st->recvs ? (double)st->bytes / (double)st->recvs : 0.0);
	if (st->enobufs)
		printf("enobufs %lu\n", st->enobufs);
}

/* The dump tools (ct_rawwalk, ct_lnfct_parse): parses their options
 * (--family ipv4|ipv6|all, --buf BYTES, --allow-init-netns), dumps the
 * table once with a receive buffer of --buf bytes, cb (may be NULL) seeing
 * every message, and prints the dump statistics. Dies when the dump fails. */
static inline void dump_main(int argc, char **argv, const char *tool, ct_msg_cb cb, void *data)
{
	uint8_t family = AF_INET;
	size_t bufsz = 1 << 20;
	struct dump_stats st;
	struct mnl_socket *nl;
	char *buf;
	int err;

	refuse_init_netns(argc, argv);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--allow-init-netns") == 0)
			continue;
		if (strcmp(argv[i], "--family") == 0 && i + 1 < argc) {
			family = parse_family(argv[++i]);
		} else if (strcmp(argv[i], "--buf") == 0 && i + 1 < argc) {
			bufsz = strtoul(argv[++i], NULL, 0);
		} else {
			fprintf(stderr, "usage: %s [--family ipv4|ipv6|all] [--buf BYTES] [--allow-init-netns]\n", tool);
			exit(2);
		}
	}
	if (bufsz < 4096)
		die("--buf must be at least 4096");
	buf = malloc(bufsz);
	if (!buf)
		die("malloc(%zu) failed", bufsz);

	nl = ct_socket_open(1 << 20);
	err = ct_dump(nl, family, buf, bufsz, cb, data, &st);
	if (err)
		die("dump failed: %s", strerror(err));
	print_dump_stats(&st);
	mnl_socket_close(nl);
	free(buf);
}

/* ---- Event receivers (ct_events, nflog_recv) ------------------------------
 * Both count a burst until its sentinel, a quiet period or a time limit, say
 * "ready PID" once they saw a probe, and time their drain from a SIGCONT. */

struct recv_opts {
	unsigned long rcvbuf; /* 0: the socket keeps rmem_default */
	double quiet;         /* seconds without a counted item that end the run */
	double max_seconds;
};

/* Takes argv[*i] (with its value) when it is an option every receiver has:
 * --rcvbuf, --quiet-ms, --max-seconds, --allow-init-netns. Returns 0 when
 * it is not one. */
static inline int recv_arg(int argc, char **argv, int *i, struct recv_opts *o)
{
	const char *val = *i + 1 < argc ? argv[*i + 1] : NULL;

	if (strcmp(argv[*i], "--allow-init-netns") == 0)
		return 1; /* handled by refuse_init_netns() */
	if (!val)
		return 0;
	if (strcmp(argv[*i], "--rcvbuf") == 0)
		o->rcvbuf = strtoul(val, NULL, 0);
	else if (strcmp(argv[*i], "--quiet-ms") == 0)
		o->quiet = strtod(val, NULL) / 1000.0;
	else if (strcmp(argv[*i], "--max-seconds") == 0)
		o->max_seconds = strtod(val, NULL);
	else
		return 0;
	(*i)++;
	return 1;
}

static inline void recv_check(const struct recv_opts *o)
{
	if (o->quiet <= 0 || o->max_seconds <= 0 || o->max_seconds > 600)
		die("--quiet-ms must be > 0, --max-seconds in (0, 600]");
}

/* When the harness let a SIGSTOPped receiver go again. */
struct recv_sigcont {
	volatile sig_atomic_t continued;
	struct timespec ts;
};

static inline struct recv_sigcont *recv_sigcont_state(void)
{
	static struct recv_sigcont state;
	return &state;
}

static inline void recv_on_sigcont(int sig)
{
	struct recv_sigcont *s = recv_sigcont_state();

	(void)sig;
	clock_gettime(CLOCK_MONOTONIC, &s->ts);
	s->continued = 1;
}

/* The counted items of a run: how many, the first and the last (now_s()). */
struct recv_clock {
	double start, first, last;
	unsigned long received;
	int ready;
};

/* Starts the run's clock and times the SIGCONT that ends a hold. */
static inline void recv_start(struct recv_clock *c)
{
	struct sigaction sa;

	memset(c, 0, sizeof(*c));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = recv_on_sigcont;
	sigaction(SIGCONT, &sa, NULL);
}

static inline void recv_count(struct recv_clock *c)
{
	c->last = now_s();
	if (c->received++ == 0)
		c->first = c->last;
}

/* A probe was seen: the first one prints "ready PID". */
static inline void recv_ready(struct recv_clock *c)
{
	if (c->ready)
		return;
	c->ready = 1;
	printf("ready %ld\n", (long)getpid());
	fflush(stdout);
}

/* The run is over: items came and none for --quiet-ms, or --max-seconds passed. */
static inline int recv_over(const struct recv_clock *c, const struct recv_opts *o)
{
	const double t = now_s();

	return (c->received > 0 && t - c->last >= o->quiet) || t - c->start >= o->max_seconds;
}

/* Sets a 100 ms receive timeout on fd (so quiet periods are noticed) and
 * returns SO_RCVBUF as the kernel reports it. */
static inline int recv_socket(int fd)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = 100000 };
	int actual = 0;
	socklen_t alen = sizeof(actual);

	getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &actual, &alen);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
		die("SO_RCVTIMEO: %s", strerror(errno));
	return actual;
}

/* Prints seconds (first to last item), drain_seconds (SIGCONT to the last
 * item, or -1) and sentinel. */
static inline void recv_print_times(const struct recv_clock *c, int sentinel)
{
	const struct recv_sigcont *s = recv_sigcont_state();
	double drain = -1;

	if (s->continued && c->received > 0)
		drain = c->last - ((double)s->ts.tv_sec + (double)s->ts.tv_nsec / 1e9);
	printf("seconds %.6f\n", c->received ? c->last - c->first : 0.0);
	printf("drain_seconds %.6f\n", drain);
	printf("sentinel %d\n", sentinel);
}

#ifdef BENCH_CT_WRITER
/* ---- Batched conntrack writes (ct_fill, ct_churn) -------------------------
 * Many IPCTNL_MSG_CT_* messages per sendmsg, no ACKs: the kernel reports
 * failures as NLMSG_ERROR, so the socket is drained after every batch. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#define PORTS_PER_ADDR 60000u

enum proto_mode { MODE_UDP, MODE_TCP, MODE_MIX };

/* Entry i of a burst: source base + i / 60000 port 1024 + i % 60000,
 * destination 192.168.(seed >> 8 & 255).(seed & 255) port 53 (udp) or 80
 * (tcp); "mix" alternates udp (even i) and tcp (odd i). */
struct burst_opts {
	unsigned long n;
	int have_n;
	enum proto_mode mode;
	uint32_t seed;
	uint32_t base; /* host order */
	size_t batch;  /* bytes of messages per sendmsg */
};

static inline void burst_defaults(struct burst_opts *b)
{
	memset(b, 0, sizeof(*b));
	b->mode = MODE_UDP;
	b->seed = 1;
	b->base = 0x0a000001; /* 10.0.0.1 */
	b->batch = 65536;
}

/* Takes argv[*i] (with its value) when it is N or an option every writer
 * has: --proto, --seed, --base, --batch, --allow-init-netns. Returns 0 when
 * it is not one. */
static inline int burst_arg(int argc, char **argv, int *i, struct burst_opts *b)
{
	const char *arg = argv[*i];
	const char *val = *i + 1 < argc ? argv[*i + 1] : NULL;
	struct in_addr a;

	if (strcmp(arg, "--allow-init-netns") == 0)
		return 1; /* checked by refuse_init_netns() */
	if (arg[0] != '-') {
		if (b->have_n)
			return 0;
		b->n = parse_ul(arg, "N");
		b->have_n = 1;
		return 1;
	}
	if (!val)
		return 0;
	if (strcmp(arg, "--proto") == 0) {
		if (strcmp(val, "udp") == 0)
			b->mode = MODE_UDP;
		else if (strcmp(val, "tcp") == 0)
			b->mode = MODE_TCP;
		else if (strcmp(val, "mix") == 0)
			b->mode = MODE_MIX;
		else
			die("unknown --proto '%s' (udp|tcp|mix)", val);
	} else if (strcmp(arg, "--seed") == 0) {
		b->seed = (uint32_t)parse_ul(val, "seed");
	} else if (strcmp(arg, "--base") == 0) {
		if (inet_pton(AF_INET, val, &a) != 1)
			die("invalid --base '%s'", val);
		b->base = ntohl(a.s_addr);
	} else if (strcmp(arg, "--batch") == 0) {
		b->batch = parse_ul(val, "batch");
	} else {
		return 0;
	}
	(*i)++;
	return 1;
}

static inline void burst_check(const struct burst_opts *b)
{
	if (b->batch < 1024 || b->batch > (1u << 22))
		die("--batch must be between 1024 and 4194304");
}

/* A tool's own option: takes argv[*i] (`arg`, its value `val` or NULL) into `ctx` and returns 1,
 * stepping *i past a value it took; returns 0 when it is not one of the tool's. */
typedef int (*burst_own_arg)(const char *arg, const char *val, int *i, void *ctx);

/* The command line of a writer: burst_defaults(), then every argument taken by burst_arg() (N
 * and the options every writer has) or `own` (the tool's); usage() on anything else. */
static inline void burst_parse(int argc, char **argv, struct burst_opts *b, burst_own_arg own, void *ctx,
			       void (*usage)(void))
{
	burst_defaults(b);
	for (int i = 1; i < argc; i++) {
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!burst_arg(argc, argv, &i, b) && !own(argv[i], val, &i, ctx))
			usage();
	}
}

struct ct_tuple {
	uint32_t src, dst; /* host order */
	uint16_t sport, dport;
	uint8_t proto;
};

static inline struct ct_tuple burst_tuple(const struct burst_opts *b, unsigned long i)
{
	const int tcp = b->mode == MODE_TCP || (b->mode == MODE_MIX && (i & 1));
	struct ct_tuple t = {
		.src = b->base + (uint32_t)(i / PORTS_PER_ADDR),
		.dst = 0xc0a80000u | (b->seed & 0xffffu),
		.sport = (uint16_t)(1024 + i % PORTS_PER_ADDR),
		.dport = tcp ? 80 : 53,
		.proto = tcp ? IPPROTO_TCP : IPPROTO_UDP,
	};
	return t;
}

static inline void ct_put_tuple(struct nlmsghdr *nlh, uint16_t type, uint32_t src, uint32_t dst,
				uint8_t proto, uint16_t sport, uint16_t dport)
{
	struct nlattr *tuple = mnl_attr_nest_start(nlh, type);
	struct nlattr *ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
	struct nlattr *l4;

	mnl_attr_put_u32(nlh, CTA_IP_V4_SRC, htonl(src));
	mnl_attr_put_u32(nlh, CTA_IP_V4_DST, htonl(dst));
	mnl_attr_nest_end(nlh, ip);
	l4 = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
	mnl_attr_put_u8(nlh, CTA_PROTO_NUM, proto);
	mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
	mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
	mnl_attr_nest_end(nlh, l4);
	mnl_attr_nest_end(nlh, tuple);
}

/* An IPv4 IPCTNL_MSG_CT_NEW (NLM_F_CREATE | NLM_F_EXCL | flags) for t, the
 * reply tuple t swapped, with status and timeout, a mark when mark is not
 * NULL, and TCP entries ESTABLISHED. */
static inline void ct_build_new(void *at, const struct ct_tuple *t, uint32_t seq, uint16_t flags,
				uint32_t status, uint32_t timeout, const uint32_t *mark)
{
	struct nlmsghdr *nlh = ct_put_header(at, IPCTNL_MSG_CT_NEW, NLM_F_CREATE | NLM_F_EXCL | flags,
					     seq, AF_INET);

	ct_put_tuple(nlh, CTA_TUPLE_ORIG, t->src, t->dst, t->proto, t->sport, t->dport);
	ct_put_tuple(nlh, CTA_TUPLE_REPLY, t->dst, t->src, t->proto, t->dport, t->sport);
	mnl_attr_put_u32(nlh, CTA_STATUS, htonl(status));
	mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(timeout));
	if (mark)
		mnl_attr_put_u32(nlh, CTA_MARK, htonl(*mark));
	if (t->proto == IPPROTO_TCP) {
		struct nlattr *pi = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
		struct nlattr *tcp = mnl_attr_nest_start(nlh, CTA_PROTOINFO_TCP);
		mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_STATE, TCP_CONNTRACK_ESTABLISHED);
		mnl_attr_nest_end(nlh, tcp);
		mnl_attr_nest_end(nlh, pi);
	}
}

/* The kernel's reports on what was sent. */
struct ct_reports {
	unsigned long failed;
	unsigned long by_errno[256];
	unsigned long lost_reports; /* recv() said ENOBUFS: some reports were dropped */
	unsigned long acks;
};

/* The socket, the send buffer (one batch) and the receive buffer of a writer. */
struct ct_writer {
	struct mnl_socket *nl;
	char *sbuf, *rbuf;
	size_t batch, rbufsz;
};

static inline void ct_writer_open(struct ct_writer *w, size_t batch)
{
	int snd = (int)batch * 2;

	/* Room for one whole batch worth of error reports, with margin. */
	w->nl = ct_socket_open(16 << 20);
	w->batch = batch;
	w->rbufsz = 1 << 20;
	w->sbuf = malloc(batch + MNL_SOCKET_BUFFER_SIZE);
	w->rbuf = malloc(w->rbufsz);
	if (!w->sbuf || !w->rbuf)
		die("out of memory");
	/* The whole batch has to fit the socket's send buffer. */
	setsockopt(mnl_socket_get_fd(w->nl), SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof(snd));
}

static inline void ct_writer_close(struct ct_writer *w)
{
	mnl_socket_close(w->nl);
	free(w->sbuf);
	free(w->rbuf);
}

/* Reads every queued report; blocking until one arrives when `wait` (an ACK
 * was asked for). */
static inline void ct_drain_reports(struct ct_writer *w, struct ct_reports *c, int wait)
{
	const int fd = mnl_socket_get_fd(w->nl);

	for (;;) {
		ssize_t n = nl_recv(fd, w->rbuf, w->rbufsz, wait ? 0 : MSG_DONTWAIT, &c->lost_reports);
		const struct nlmsghdr *nlh;
		int len;

		if (n < 0)
			return;
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)w->rbuf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			const struct nlmsgerr *e;
			int code;

			if (nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			wait = 0;
			if (e->error == 0) {
				c->acks++;
				continue;
			}
			code = -e->error;
			c->failed++;
			c->by_errno[code > 0 && code < 256 ? code : 0]++;
		}
	}
}

static inline void ct_send_all(struct ct_writer *w, const void *buf, size_t len)
{
	for (;;) {
		ssize_t n = mnl_socket_sendto(w->nl, buf, len);
		if (n >= 0)
			return;
		if (errno != EINTR)
			die("sendmsg (%zu bytes): %s", len, strerror(errno));
	}
}

/* Builds message i at `at`. */
typedef void (*ct_build_fn)(void *at, unsigned long i, void *ctx);
/* Called after each batch is sent and drained, with its number of messages. */
typedef void (*ct_sent_fn)(void *ctx, unsigned long messages);

/* Builds messages first..first+count-1 into batches of w->batch bytes, sends
 * each and drains the reports into c; then sent(ctx, messages) when not NULL. */
static inline void ct_send_batched(struct ct_writer *w, unsigned long first, unsigned long count,
				   ct_build_fn build, ct_sent_fn sent, void *ctx, struct ct_reports *c)
{
	struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start(w->sbuf, w->batch);
	unsigned long in_batch = 0;

	for (unsigned long i = first; i < first + count; i++) {
		build(mnl_nlmsg_batch_current(b), i, ctx);
		if (!mnl_nlmsg_batch_next(b)) {
			/* The message just built did not fit: send the others, keep it. */
			ct_send_all(w, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b));
			ct_drain_reports(w, c, 0);
			mnl_nlmsg_batch_reset(b);
			if (sent)
				sent(ctx, in_batch);
			in_batch = 0;
		}
		in_batch++;
	}
	if (!mnl_nlmsg_batch_is_empty(b)) {
		ct_send_all(w, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b));
		ct_drain_reports(w, c, 0);
		if (sent)
			sent(ctx, in_batch);
	}
	mnl_nlmsg_batch_stop(b);
}

/* On stderr, when anything failed: "TOOL: F of N WHAT failed" with the
 * count by errno name, and how many report reads hit ENOBUFS. */
static inline void ct_report_failures(const char *tool, const char *what, const struct ct_reports *c,
				      unsigned long of, const char *lost_note)
{
	if (!c->failed && !c->lost_reports)
		return;
	fprintf(stderr, "%s: %lu of %lu %s failed", tool, c->failed, of, what);
	for (int e = 0; e < 256; e++)
		if (c->by_errno[e])
			fprintf(stderr, " %s=%lu", e ? strerrorname_np(e) : "other", c->by_errno[e]);
	fputc('\n', stderr);
	if (c->lost_reports)
		fprintf(stderr, "%s: %lu recv() calls returned ENOBUFS: error reports were lost%s\n", tool,
			c->lost_reports, lost_note);
}
#endif /* BENCH_CT_WRITER */

#endif
