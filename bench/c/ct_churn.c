/* ct_churn: a bounded burst of conntrack events in the current netns, as fast as netlink goes.
 *
 *   ct_churn N [--proto udp|tcp|mix] [--chunk C] [--batch BYTES] [--base A.B.C.D]
 *              [--seed S] [--rate EVENTS_PER_S] [--sentinel] [--allow-init-netns]
 *   ct_churn --probe K [--allow-init-netns]
 *
 * Burst: creates N IPv4 entries (IPCTNL_MSG_CT_NEW, no ACK, many messages per sendmsg) and
 * deletes them again (IPCTNL_MSG_CT_DELETE by original tuple, batched the same way): one NEW
 * and one DESTROY event each, 2N events for listeners of the ctnetlink groups. With --chunk C
 * it creates C, deletes those C, and so on (the table never holds more than C); by default
 * all N are created first, then all deleted. Entry i: source base + i / 60000 (10.0.0.1 by
 * default) port 1024 + i % 60000, destination 192.168.(S >> 8 & 255).(S & 255) port 53 (udp)
 * or 80 (tcp), tcp entries ESTABLISHED. Failures come back as NLMSG_ERROR and are counted;
 * the socket is drained after every batch.
 *
 * --rate R paces the burst to about R events (messages) per second: after each batch the
 * generator sleeps until (messages sent so far) / R seconds have passed since the start.
 * Without it, it goes as fast as the kernel takes the batches.
 *
 * --sentinel: once the burst is done (and timed), one more entry, from 10.255.255.254 port S,
 * in a sendmsg of its own, with an ACK: its NEW event is the last of the burst, so a receiver
 * that sees it knows the burst is over. (It can be lost like any other event.)
 *
 * --probe K: creates the single entry 10.255.0.1 port 1024 + K -> 192.168.255.254 port 9 (udp,
 * with an ACK): a receiver started before that shows it is subscribed once it sees it. Probe
 * and sentinel entries stay in the table; they all have source addresses in 10.255.0.0/16.
 *
 * Output (stdout, "key value" lines): created, deleted, events (= created + deleted),
 * seconds (the burst: first sendmsg to last drained error report), create_seconds,
 * delete_seconds, rate (events per second), failed, sentinel (1 when it was created). Exit
 * status 1 when anything failed.
 *
 * Refuses to run in the initial network namespace unless --allow-init-netns.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <netinet/in.h>
#include "common.h"

#define PORTS_PER_ADDR 60000u
#define CONTROL_NET 0x0aff0000u     /* 10.255.0.0/16: probes and the sentinel */
#define SENTINEL_SRC 0x0afffffeu    /* 10.255.255.254 */
#define CONTROL_DST 0xc0a8fffeu     /* 192.168.255.254 */

enum proto_mode { MODE_UDP, MODE_TCP, MODE_MIX };

struct opts {
	unsigned long n;
	unsigned long chunk;
	enum proto_mode mode;
	uint32_t seed;
	uint32_t base;
	size_t batch;
	int sentinel;
	long probe;        /* -1: no probe */
	double rate;       /* events per second; 0: as fast as possible */
};

struct counts {
	unsigned long failed;
	unsigned long by_errno[256];
	unsigned long lost_reports;
	unsigned long acks;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: ct_churn N [--proto udp|tcp|mix] [--chunk C] [--batch BYTES] [--base A.B.C.D]\n"
		"                [--seed S] [--rate EVENTS_PER_S] [--sentinel] [--allow-init-netns]\n"
		"       ct_churn --probe K [--allow-init-netns]\n");
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

static void parse_args(int argc, char **argv, struct opts *o)
{
	struct in_addr a;
	int have_n = 0;

	memset(o, 0, sizeof(*o));
	o->mode = MODE_UDP;
	o->seed = 1;
	o->base = 0x0a000001; /* 10.0.0.1 */
	o->batch = 65536;
	o->probe = -1;
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
		} else if (strcmp(arg, "--chunk") == 0 && val) {
			o->chunk = parse_ul(val, "chunk");
			i++;
		} else if (strcmp(arg, "--batch") == 0 && val) {
			o->batch = parse_ul(val, "batch");
			i++;
		} else if (strcmp(arg, "--seed") == 0 && val) {
			o->seed = (uint32_t)parse_ul(val, "seed");
			i++;
		} else if (strcmp(arg, "--base") == 0 && val) {
			if (inet_pton(AF_INET, val, &a) != 1)
				die("invalid --base '%s'", val);
			o->base = ntohl(a.s_addr);
			i++;
		} else if (strcmp(arg, "--probe") == 0 && val) {
			o->probe = (long)parse_ul(val, "probe");
			if (o->probe > 60000)
				die("--probe must be at most 60000");
			i++;
		} else if (strcmp(arg, "--rate") == 0 && val) {
			o->rate = (double)parse_ul(val, "rate");
			i++;
		} else if (strcmp(arg, "--sentinel") == 0) {
			o->sentinel = 1;
		} else if (strcmp(arg, "--allow-init-netns") == 0) {
			/* checked by refuse_init_netns() */
		} else if (arg[0] != '-' && !have_n) {
			o->n = parse_ul(arg, "N");
			have_n = 1;
		} else {
			usage();
		}
	}
	if (!have_n && o->probe < 0)
		usage();
	if (o->batch < 1024 || o->batch > (1u << 22))
		die("--batch must be between 1024 and 4194304");
	if (o->n > 50000000ul)
		die("N must be at most 50,000,000 (a bounded burst)");
	if (o->chunk == 0 || o->chunk > o->n)
		o->chunk = o->n;
	if (((o->base + o->n / PORTS_PER_ADDR) & 0xffff0000u) == CONTROL_NET ||
	    (o->base & 0xffff0000u) == CONTROL_NET)
		die("--base: the burst must stay out of 10.255.0.0/16 (probes and sentinel)");
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

static struct nlmsghdr *put_header(void *at, uint8_t type, uint16_t flags, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(at);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = CT_MSG(type);
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_INET;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	return nlh;
}

struct tuple {
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t proto;
};

static struct tuple burst_tuple(const struct opts *o, unsigned long i)
{
	const int tcp = o->mode == MODE_TCP || (o->mode == MODE_MIX && (i & 1));
	struct tuple t = {
		.src = o->base + (uint32_t)(i / PORTS_PER_ADDR),
		.dst = 0xc0a80000u | (o->seed & 0xffffu),
		.sport = (uint16_t)(1024 + i % PORTS_PER_ADDR),
		.dport = tcp ? 80 : 53,
		.proto = tcp ? IPPROTO_TCP : IPPROTO_UDP,
	};
	return t;
}

static void build_new(void *at, const struct tuple *t, uint32_t seq, uint16_t flags)
{
	struct nlmsghdr *nlh = put_header(at, IPCTNL_MSG_CT_NEW, NLM_F_CREATE | NLM_F_EXCL | flags, seq);

	put_tuple(nlh, CTA_TUPLE_ORIG, t->src, t->dst, t->proto, t->sport, t->dport);
	put_tuple(nlh, CTA_TUPLE_REPLY, t->dst, t->src, t->proto, t->dport, t->sport);
	mnl_attr_put_u32(nlh, CTA_STATUS, htonl(IPS_CONFIRMED | IPS_SEEN_REPLY | IPS_ASSURED));
	mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(3600));
	if (t->proto == IPPROTO_TCP) {
		struct nlattr *pi = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
		struct nlattr *tcp = mnl_attr_nest_start(nlh, CTA_PROTOINFO_TCP);
		mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_STATE, TCP_CONNTRACK_ESTABLISHED);
		mnl_attr_nest_end(nlh, tcp);
		mnl_attr_nest_end(nlh, pi);
	}
}

static void build_delete(void *at, const struct tuple *t, uint32_t seq)
{
	struct nlmsghdr *nlh = put_header(at, IPCTNL_MSG_CT_DELETE, 0, seq);

	put_tuple(nlh, CTA_TUPLE_ORIG, t->src, t->dst, t->proto, t->sport, t->dport);
}

/* Reads every queued report; blocking until one arrives when `wait` (an ACK was asked for). */
static void drain(struct mnl_socket *nl, char *buf, size_t bufsz, struct counts *c, int wait)
{
	const int fd = mnl_socket_get_fd(nl);

	for (;;) {
		ssize_t n = recv(fd, buf, bufsz, wait ? 0 : MSG_DONTWAIT);
		const struct nlmsghdr *nlh;
		int len;

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				c->lost_reports++;
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
			if (e->error == 0) {
				c->acks++;
				wait = 0;
				continue;
			}
			code = -e->error;
			c->failed++;
			c->by_errno[code > 0 && code < 256 ? code : 0]++;
			wait = 0;
		}
	}
}

static void send_all(struct mnl_socket *nl, const void *buf, size_t len)
{
	for (;;) {
		ssize_t n = mnl_socket_sendto(nl, buf, len);
		if (n >= 0)
			return;
		if (errno != EINTR)
			die("sendmsg (%zu bytes): %s", len, strerror(errno));
	}
}

/* One entry with an ACK: a probe or the sentinel. Returns 0 when the kernel accepted it. */
static int control_entry(struct mnl_socket *nl, char *rbuf, size_t rbufsz, uint32_t src, uint16_t sport)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct tuple t = { .src = src, .dst = CONTROL_DST, .sport = sport, .dport = 9, .proto = IPPROTO_UDP };
	struct counts c;

	memset(&c, 0, sizeof(c));
	build_new(buf, &t, 0xc0ffee, NLM_F_ACK);
	send_all(nl, buf, ((struct nlmsghdr *)buf)->nlmsg_len);
	drain(nl, rbuf, rbufsz, &c, 1);
	if (c.failed) {
		for (int e = 1; e < 256; e++)
			if (c.by_errno[e])
				fprintf(stderr, "ct_churn: control entry failed: %s\n", strerror(e));
		return -1;
	}
	return 0;
}

/* Pacing (--rate): the burst's start and the messages sent since. */
struct pace {
	double t0;
	double rate;
	unsigned long sent;
};

static void pace_after(struct pace *p, unsigned long messages)
{
	struct timespec ts;
	double due;

	p->sent += messages;
	if (p->rate <= 0)
		return;
	due = p->t0 + (double)p->sent / p->rate;
	if (due <= now_s())
		return;
	ts.tv_sec = (time_t)due;
	ts.tv_nsec = (long)((due - (double)ts.tv_sec) * 1e9);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Builds `count` messages (create or delete of entries first..first+count-1) into batches. */
static void run_phase(struct mnl_socket *nl, char *sbuf, size_t batch, char *rbuf, size_t rbufsz,
		      const struct opts *o, unsigned long first, unsigned long count, int create,
		      struct counts *c, struct pace *p)
{
	struct mnl_nlmsg_batch *b = mnl_nlmsg_batch_start(sbuf, batch);
	unsigned long in_batch = 0;

	for (unsigned long i = first; i < first + count; i++) {
		struct tuple t = burst_tuple(o, i);
		if (create)
			build_new(mnl_nlmsg_batch_current(b), &t, (uint32_t)i, 0);
		else
			build_delete(mnl_nlmsg_batch_current(b), &t, (uint32_t)i);
		if (!mnl_nlmsg_batch_next(b)) {
			/* The message just built did not fit: send the others, keep it. */
			send_all(nl, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b));
			drain(nl, rbuf, rbufsz, c, 0);
			mnl_nlmsg_batch_reset(b);
			pace_after(p, in_batch);
			in_batch = 0;
		}
		in_batch++;
	}
	if (!mnl_nlmsg_batch_is_empty(b)) {
		send_all(nl, mnl_nlmsg_batch_head(b), mnl_nlmsg_batch_size(b));
		drain(nl, rbuf, rbufsz, c, 0);
		pace_after(p, in_batch);
	}
	mnl_nlmsg_batch_stop(b);
}

static void report_failures(const char *what, const struct counts *c, unsigned long of)
{
	if (!c->failed && !c->lost_reports)
		return;
	fprintf(stderr, "ct_churn: %lu of %lu %s failed", c->failed, of, what);
	for (int e = 0; e < 256; e++)
		if (c->by_errno[e])
			fprintf(stderr, " %s=%lu", e ? strerrorname_np(e) : "other", c->by_errno[e]);
	fputc('\n', stderr);
	if (c->lost_reports)
		fprintf(stderr, "ct_churn: %lu recv() calls returned ENOBUFS: error reports were lost\n",
			c->lost_reports);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct counts cc, dc;
	struct mnl_socket *nl;
	char *sbuf, *rbuf;
	const size_t rbufsz = 1 << 20;
	double t0, tc = 0, td = 0, t1, secs;
	unsigned long created, deleted;
	int snd, sentinel = 0;
	struct pace pace;

	refuse_init_netns(argc, argv);
	parse_args(argc, argv, &o);
	memset(&cc, 0, sizeof(cc));
	memset(&dc, 0, sizeof(dc));

	nl = ct_socket_open(16 << 20);
	rbuf = malloc(rbufsz);
	sbuf = malloc(o.batch + MNL_SOCKET_BUFFER_SIZE);
	if (!sbuf || !rbuf)
		die("out of memory");
	snd = (int)o.batch * 2;
	setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof(snd));

	if (o.probe >= 0) {
		int r = control_entry(nl, rbuf, rbufsz, CONTROL_NET | 1u, (uint16_t)(1024 + o.probe));
		printf("probe %ld\n", o.probe);
		return r ? 1 : 0;
	}

	t0 = now_s();
	pace.t0 = t0;
	pace.rate = o.rate;
	pace.sent = 0;
	for (unsigned long first = 0; first < o.n; first += o.chunk) {
		unsigned long count = o.chunk < o.n - first ? o.chunk : o.n - first;
		double a = now_s(), b;

		run_phase(nl, sbuf, o.batch, rbuf, rbufsz, &o, first, count, 1, &cc, &pace);
		b = now_s();
		tc += b - a;
		run_phase(nl, sbuf, o.batch, rbuf, rbufsz, &o, first, count, 0, &dc, &pace);
		td += now_s() - b;
	}
	t1 = now_s();
	secs = t1 - t0;
	/* Not timed: the entry that ends the burst. */
	if (o.sentinel)
		sentinel = control_entry(nl, rbuf, rbufsz, SENTINEL_SRC, (uint16_t)(o.seed & 0xffffu)) == 0;

	created = o.n - (cc.failed < o.n ? cc.failed : o.n);
	deleted = o.n - (dc.failed < o.n ? dc.failed : o.n);
	report_failures("creates", &cc, o.n);
	report_failures("deletes", &dc, o.n);
	printf("created %lu\n", created);
	printf("deleted %lu\n", deleted);
	printf("events %lu\n", created + deleted);
	printf("seconds %.6f\n", secs);
	printf("create_seconds %.6f\n", tc);
	printf("delete_seconds %.6f\n", td);
	printf("rate %.0f\n", secs > 0 ? (double)(created + deleted) / secs : 0.0);
	printf("failed %lu\n", cc.failed + dc.failed + cc.lost_reports + dc.lost_reports);
	printf("sentinel %d\n", sentinel);
	mnl_socket_close(nl);
	free(sbuf);
	free(rbuf);
	return (cc.failed || dc.failed || cc.lost_reports || dc.lost_reports || (o.sentinel && !sentinel)) ? 1 : 0;
}
