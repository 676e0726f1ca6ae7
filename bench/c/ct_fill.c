/* ct_fill: create N IPv4 conntrack entries in the current netns, fast.
 *
 *   ct_fill N [--proto udp|tcp|mix] [--mark M] [--seed S] [--base A.B.C.D]
 *             [--timeout SECS] [--batch BYTES] [--unassured] [--quiet]
 *             [--allow-init-netns]
 *
 * Messages are IPCTNL_MSG_CT_NEW with NLM_F_CREATE|NLM_F_EXCL and no
 * NLM_F_ACK, packed back to back into batches of --batch bytes (64 KiB by
 * default), one sendmsg per batch. The kernel still reports failures as
 * NLMSG_ERROR, so the socket is drained after every batch and failures are
 * counted by errno.
 *
 * Tuples: entry i has source address base + i / 60000 and source port
 * 1024 + i % 60000; the destination is 192.168.(S >> 8 & 255).(S & 255),
 * port 53 (udp) or 80 (tcp). Fills with different seeds never collide.
 * "mix" alternates udp (even i) and tcp (odd i). The reply tuple is the
 * original swapped. Status is CONFIRMED|SEEN_REPLY|ASSURED (--unassured
 * drops ASSURED, which lets the kernel early-drop entries when the table
 * is full instead of failing with ENOMEM). TCP entries are ESTABLISHED.
 *
 * Refuses to run in the initial network namespace unless --allow-init-netns.
 *
 * Prints "created N" and "seconds S" on stdout; failures on stderr, with
 * exit status 1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <netinet/in.h>
#include "common.h"

#define PORTS_PER_ADDR 60000u

enum proto_mode { MODE_UDP, MODE_TCP, MODE_MIX };

struct fill_opts {
	unsigned long n;
	enum proto_mode mode;
	int has_mark;
	uint32_t mark;
	uint32_t seed;
	uint32_t base;     /* host order */
	uint32_t timeout;
	size_t batch;
	int unassured;
	int quiet;
};

struct fill_result {
	unsigned long failed;
	unsigned long by_errno[256];
	unsigned long lost_reports; /* recv() said ENOBUFS: some error reports were dropped */
};

static void usage(void)
{
	fprintf(stderr,
		"usage: ct_fill N [--proto udp|tcp|mix] [--mark M] [--seed S] [--base A.B.C.D]\n"
		"               [--timeout SECS] [--batch BYTES] [--unassured] [--quiet]\n"
		"               [--allow-init-netns]\n");
	exit(2);
}

static unsigned long parse_ul(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || end == s)
		die("invalid %s '%s'", what, s);
	return v;
}

static void parse_args(int argc, char **argv, struct fill_opts *o)
{
	struct in_addr a;
	int have_n = 0;

	memset(o, 0, sizeof(*o));
	o->mode = MODE_UDP;
	o->seed = 1;
	o->base = 0x0a000001; /* 10.0.0.1 */
	o->timeout = 3600;
	o->batch = 65536;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(arg, "--proto") == 0 && val) {
			if (strcmp(val, "udp") == 0)
				o->mode = MODE_UDP;
			else if (strcmp(val, "tcp") == 0)
				o->mode = MODE_TCP;
			else if (strcmp(val, "mix") == 0)
				o->mode = MODE_MIX;
			else
				die("unknown --proto '%s' (udp|tcp|mix)", val);
			i++;
		} else if (strcmp(arg, "--mark") == 0 && val) {
			o->has_mark = 1;
			o->mark = (uint32_t)parse_ul(val, "mark");
			i++;
		} else if (strcmp(arg, "--seed") == 0 && val) {
			o->seed = (uint32_t)parse_ul(val, "seed");
			i++;
		} else if (strcmp(arg, "--base") == 0 && val) {
			if (inet_pton(AF_INET, val, &a) != 1)
				die("invalid --base '%s'", val);
			o->base = ntohl(a.s_addr);
			i++;
		} else if (strcmp(arg, "--timeout") == 0 && val) {
			o->timeout = (uint32_t)parse_ul(val, "timeout");
			i++;
		} else if (strcmp(arg, "--batch") == 0 && val) {
			o->batch = parse_ul(val, "batch");
			i++;
		} else if (strcmp(arg, "--unassured") == 0) {
			o->unassured = 1;
		} else if (strcmp(arg, "--quiet") == 0) {
			o->quiet = 1;
		} else if (strcmp(arg, "--allow-init-netns") == 0) {
			/* checked by refuse_init_netns() */
		} else if (arg[0] != '-' && !have_n) {
			o->n = parse_ul(arg, "N");
			have_n = 1;
		} else {
			usage();
		}
	}
	if (!have_n)
		usage();
	if (o->batch < 1024 || o->batch > (1u << 22))
		die("--batch must be between 1024 and 4194304");
	if (o->n / PORTS_PER_ADDR > 0xffffffffu - o->base)
		die("N too large for --base");
}

static void put_tuple(struct nlmsghdr *nlh, uint16_t type, uint32_t src, uint32_t dst,
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

static void build_new(void *at, const struct fill_opts *o, unsigned long i)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(at);
	const int tcp = o->mode == MODE_TCP || (o->mode == MODE_MIX && (i & 1));
	const uint8_t proto = tcp ? IPPROTO_TCP : IPPROTO_UDP;
	const uint32_t src = o->base + (uint32_t)(i / PORTS_PER_ADDR);
	const uint32_t dst = 0xc0a80000u | (o->seed & 0xffffu);
	const uint16_t sport = (uint16_t)(1024 + i % PORTS_PER_ADDR);
	const uint16_t dport = tcp ? 80 : 53;
	uint32_t status = IPS_CONFIRMED | IPS_SEEN_REPLY;
	struct nfgenmsg *nfg;

	if (!o->unassured)
		status |= IPS_ASSURED;

	nlh->nlmsg_type = CT_MSG(IPCTNL_MSG_CT_NEW);
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
	nlh->nlmsg_seq = (uint32_t)i;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_INET;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;

	put_tuple(nlh, CTA_TUPLE_ORIG, src, dst, proto, sport, dport);
	put_tuple(nlh, CTA_TUPLE_REPLY, dst, src, proto, dport, sport);
	mnl_attr_put_u32(nlh, CTA_STATUS, htonl(status));
	mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(o->timeout));
	if (o->has_mark)
		mnl_attr_put_u32(nlh, CTA_MARK, htonl(o->mark));
	if (tcp) {
		struct nlattr *pi = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
		struct nlattr *t = mnl_attr_nest_start(nlh, CTA_PROTOINFO_TCP);
		mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_STATE, TCP_CONNTRACK_ESTABLISHED);
		mnl_attr_nest_end(nlh, t);
		mnl_attr_nest_end(nlh, pi);
	}
}

/* Reads every queued error report without blocking. */
static void drain_errors(struct mnl_socket *nl, char *buf, size_t bufsz, struct fill_result *r)
{
	const int fd = mnl_socket_get_fd(nl);

	for (;;) {
		ssize_t n = recv(fd, buf, bufsz, MSG_DONTWAIT);
		const struct nlmsghdr *nlh;
		int len;

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				r->lost_reports++;
				continue;
			}
			die("recv: %s", strerror(errno));
		}
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			const struct nlmsgerr *e;
			int code;

			if (nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			if (e->error == 0)
				continue; /* an ACK; none were asked for */
			code = -e->error;
			r->failed++;
			r->by_errno[code > 0 && code < 256 ? code : 0]++;
		}
	}
}

static void send_batch(struct mnl_socket *nl, const void *buf, size_t len)
{
	for (;;) {
		ssize_t n = mnl_socket_sendto(nl, buf, len);
		if (n >= 0)
			return;
		if (errno != EINTR)
			die("sendmsg (%zu bytes): %s", len, strerror(errno));
	}
}

int main(int argc, char **argv)
{
	struct fill_opts o;
	struct fill_result r;
	struct mnl_socket *nl;
	struct mnl_nlmsg_batch *b;
	char *sbuf, *rbuf;
	const size_t rbufsz = 1 << 20;
	unsigned long i, created;
	double t0, secs;

	refuse_init_netns(argc, argv);
	parse_args(argc, argv, &o);
	memset(&r, 0, sizeof(r));

	/* Room for one whole batch worth of error reports, with margin. */
	nl = ct_socket_open(16 << 20);
	sbuf = malloc(o.batch + MNL_SOCKET_BUFFER_SIZE);
	rbuf = malloc(rbufsz);
	if (!sbuf || !rbuf)
		die("out of memory");
	{
		/* The whole batch has to fit the socket's send buffer. */
		int snd = (int)o.batch * 2;
		setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof(snd));
	}

	b = mnl_nlmsg_batch_start(sbuf, o.batch);
	t0 = now_s();
	for (i = 0; i < o.n; i++) {
		build_new(mnl_nlmsg_batch_current(b), &o, i);
		if (!mnl_nlmsg_batch_next(b)) {
			/* The message just built did not fit: send the rest, keep it. */
			send_batch(nl, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b));
			drain_errors(nl, rbuf, rbufsz, &r);
			mnl_nlmsg_batch_reset(b);
		}
	}
	if (!mnl_nlmsg_batch_is_empty(b)) {
		send_batch(nl, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b));
		drain_errors(nl, rbuf, rbufsz, &r);
	}
	secs = now_s() - t0;
	mnl_nlmsg_batch_stop(b);

	created = o.n - (r.failed < o.n ? r.failed : o.n);
	if (r.failed || r.lost_reports) {
		fprintf(stderr, "ct_fill: %lu of %lu creates failed", r.failed, o.n);
		for (int e = 0; e < 256; e++)
			if (r.by_errno[e])
				fprintf(stderr, " %s=%lu", e ? strerrorname_np(e) : "other", r.by_errno[e]);
		fputc('\n', stderr);
		if (r.lost_reports)
			fprintf(stderr, "ct_fill: %lu recv() calls returned ENOBUFS: error reports were lost, the count above is a lower bound\n",
				r.lost_reports);
	}
	printf("created %lu\n", created);
	if (!o.quiet) {
		printf("seconds %.6f\n", secs);
		printf("rate %.0f\n", secs > 0 ? (double)o.n / secs : 0.0);
	}
	mnl_socket_close(nl);
	free(sbuf);
	free(rbuf);
	return (r.failed || r.lost_reports) ? 1 : 0;
}
