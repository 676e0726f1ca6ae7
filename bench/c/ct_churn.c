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
#define BENCH_CT_WRITER
#include "common.h"

#define CONTROL_NET 0x0aff0000u     /* 10.255.0.0/16: probes and the sentinel */
#define SENTINEL_SRC 0x0afffffeu    /* 10.255.255.254 */
#define CONTROL_DST 0xc0a8fffeu     /* 192.168.255.254 */

struct opts {
	struct burst_opts b;
	unsigned long chunk;
	int sentinel;
	long probe;        /* -1: no probe */
	double rate;       /* events per second; 0: as fast as possible */
};

static void usage(void)
{
	fprintf(stderr,
		"usage: ct_churn N [--proto udp|tcp|mix] [--chunk C] [--batch BYTES] [--base A.B.C.D]\n"
		"                [--seed S] [--rate EVENTS_PER_S] [--sentinel] [--allow-init-netns]\n"
		"       ct_churn --probe K [--allow-init-netns]\n");
	exit(2);
}

/* ct_churn's own options (burst_own_arg). */
static int churn_arg(const char *arg, const char *val, int *i, void *ctx)
{
	struct opts *o = ctx;

	if (strcmp(arg, "--chunk") == 0 && val) {
		o->chunk = parse_ul(val, "chunk");
		(*i)++;
	} else if (strcmp(arg, "--probe") == 0 && val) {
		o->probe = (long)parse_ul(val, "probe");
		if (o->probe > 60000)
			die("--probe must be at most 60000");
		(*i)++;
	} else if (strcmp(arg, "--rate") == 0 && val) {
		o->rate = (double)parse_ul(val, "rate");
		(*i)++;
	} else if (strcmp(arg, "--sentinel") == 0) {
		o->sentinel = 1;
	} else {
		return 0;
	}
	return 1;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->probe = -1;
	burst_parse(argc, argv, &o->b, churn_arg, o, usage);
	if (!o->b.have_n && o->probe < 0)
		usage();
	burst_check(&o->b);
	if (o->b.n > 50000000ul)
		die("N must be at most 50,000,000 (a bounded burst)");
	if (o->chunk == 0 || o->chunk > o->b.n)
		o->chunk = o->b.n;
	if (((o->b.base + o->b.n / PORTS_PER_ADDR) & 0xffff0000u) == CONTROL_NET ||
	    (o->b.base & 0xffff0000u) == CONTROL_NET)
		die("--base: the burst must stay out of 10.255.0.0/16 (probes and sentinel)");
}

#define BURST_STATUS (IPS_CONFIRMED | IPS_SEEN_REPLY | IPS_ASSURED)

/* One entry with an ACK: a probe or the sentinel. Returns 0 when the kernel accepted it. */
static int control_entry(struct ct_writer *w, uint32_t src, uint16_t sport)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct ct_tuple t = { .src = src, .dst = CONTROL_DST, .sport = sport, .dport = 9, .proto = IPPROTO_UDP };
	struct ct_reports c;

	memset(&c, 0, sizeof(c));
	ct_build_new(buf, &t, 0xc0ffee, NLM_F_ACK, BURST_STATUS, 3600, NULL);
	ct_send_all(w, buf, ((struct nlmsghdr *)buf)->nlmsg_len);
	ct_drain_reports(w, &c, 1);
	if (c.failed) {
		for (int e = 1; e < 256; e++)
			if (c.by_errno[e])
				fprintf(stderr, "ct_churn: control entry failed: %s\n", strerror(e));
		return -1;
	}
	return 0;
}

/* A phase of the burst: creates or deletes, paced (--rate) from the burst's start. */
struct phase {
	const struct opts *o;
	int create;
	double t0;
	unsigned long sent;
};

static void build(void *at, unsigned long i, void *ctx)
{
	const struct phase *p = ctx;
	const struct ct_tuple t = burst_tuple(&p->o->b, i);

	if (p->create) {
		ct_build_new(at, &t, (uint32_t)i, 0, BURST_STATUS, 3600, NULL);
	} else {
		struct nlmsghdr *nlh = ct_put_header(at, IPCTNL_MSG_CT_DELETE, 0, (uint32_t)i, AF_INET);
		ct_put_tuple(nlh, CTA_TUPLE_ORIG, t.src, t.dst, t.proto, t.sport, t.dport);
	}
}

/* Pacing: sleeps until (messages sent so far) / rate seconds have passed since the start. */
static void pace_after(void *ctx, unsigned long messages)
{
	struct phase *p = ctx;
	struct timespec ts;
	double due;

	p->sent += messages;
	if (p->o->rate <= 0)
		return;
	due = p->t0 + (double)p->sent / p->o->rate;
	if (due <= now_s())
		return;
	ts.tv_sec = (time_t)due;
	ts.tv_nsec = (long)((due - (double)ts.tv_sec) * 1e9);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct ct_reports cc, dc;
	struct ct_writer w;
	struct phase phase;
	double t0, tc = 0, td = 0, t1, secs;
	unsigned long created, deleted, n;
	int sentinel = 0;

	refuse_init_netns(argc, argv);
	parse_args(argc, argv, &o);
	memset(&cc, 0, sizeof(cc));
	memset(&dc, 0, sizeof(dc));
	n = o.b.n;

	ct_writer_open(&w, o.b.batch);

	if (o.probe >= 0) {
		int r = control_entry(&w, CONTROL_NET | 1u, (uint16_t)(1024 + o.probe));
		printf("probe %ld\n", o.probe);
		return r ? 1 : 0;
	}

	t0 = now_s();
	phase.o = &o;
	phase.t0 = t0;
	phase.sent = 0;
	for (unsigned long first = 0; first < n; first += o.chunk) {
		unsigned long count = o.chunk < n - first ? o.chunk : n - first;
		double a = now_s(), b;

		phase.create = 1;
		ct_send_batched(&w, first, count, build, pace_after, &phase, &cc);
		b = now_s();
		tc += b - a;
		phase.create = 0;
		ct_send_batched(&w, first, count, build, pace_after, &phase, &dc);
		td += now_s() - b;
	}
	t1 = now_s();
	secs = t1 - t0;
	/* Not timed: the entry that ends the burst. */
	if (o.sentinel)
		sentinel = control_entry(&w, SENTINEL_SRC, (uint16_t)(o.b.seed & 0xffffu)) == 0;

	created = n - (cc.failed < n ? cc.failed : n);
	deleted = n - (dc.failed < n ? dc.failed : n);
	ct_report_failures("ct_churn", "creates", &cc, n, "");
	ct_report_failures("ct_churn", "deletes", &dc, n, "");
	printf("created %lu\n", created);
	printf("deleted %lu\n", deleted);
	printf("events %lu\n", created + deleted);
	printf("seconds %.6f\n", secs);
	printf("create_seconds %.6f\n", tc);
	printf("delete_seconds %.6f\n", td);
	printf("rate %.0f\n", secs > 0 ? (double)(created + deleted) / secs : 0.0);
	printf("failed %lu\n", cc.failed + dc.failed + cc.lost_reports + dc.lost_reports);
	printf("sentinel %d\n", sentinel);
	ct_writer_close(&w);
	return (cc.failed || dc.failed || cc.lost_reports || dc.lost_reports || (o.sentinel && !sentinel)) ? 1 : 0;
}
