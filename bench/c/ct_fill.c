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
#define BENCH_CT_WRITER
#include "common.h"

struct fill_opts {
	struct burst_opts b;
	int has_mark;
	uint32_t mark;
	uint32_t timeout;
	int unassured;
	int quiet;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: ct_fill N [--proto udp|tcp|mix] [--mark M] [--seed S] [--base A.B.C.D]\n"
		"               [--timeout SECS] [--batch BYTES] [--unassured] [--quiet]\n"
		"               [--allow-init-netns]\n");
	exit(2);
}

/* ct_fill's own options (burst_own_arg). */
static int fill_arg(const char *arg, const char *val, int *i, void *ctx)
{
	struct fill_opts *o = ctx;

	if (strcmp(arg, "--mark") == 0 && val) {
		o->has_mark = 1;
		o->mark = (uint32_t)parse_ul(val, "mark");
		(*i)++;
	} else if (strcmp(arg, "--timeout") == 0 && val) {
		o->timeout = (uint32_t)parse_ul(val, "timeout");
		(*i)++;
	} else if (strcmp(arg, "--unassured") == 0) {
		o->unassured = 1;
	} else if (strcmp(arg, "--quiet") == 0) {
		o->quiet = 1;
	} else {
		return 0;
	}
	return 1;
}

static void parse_args(int argc, char **argv, struct fill_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->timeout = 3600;
	burst_parse(argc, argv, &o->b, fill_arg, o, usage);
	if (!o->b.have_n)
		usage();
	burst_check(&o->b);
	if (o->b.n / PORTS_PER_ADDR > 0xffffffffu - o->b.base)
		die("N too large for --base");
}

static void build(void *at, unsigned long i, void *ctx)
{
	const struct fill_opts *o = ctx;
	const struct ct_tuple t = burst_tuple(&o->b, i);
	uint32_t status = IPS_CONFIRMED | IPS_SEEN_REPLY;

	if (!o->unassured)
		status |= IPS_ASSURED;
	ct_build_new(at, &t, (uint32_t)i, 0, status, o->timeout, o->has_mark ? &o->mark : NULL);
}

int main(int argc, char **argv)
{
	struct fill_opts o;
	struct ct_reports r;
	struct ct_writer w;
	unsigned long created;
	double t0, secs;

	refuse_init_netns(argc, argv);
	parse_args(argc, argv, &o);
	memset(&r, 0, sizeof(r));

	ct_writer_open(&w, o.b.batch);
	t0 = now_s();
	ct_send_batched(&w, 0, o.b.n, build, NULL, &o, &r);
	secs = now_s() - t0;

	created = o.b.n - (r.failed < o.b.n ? r.failed : o.b.n);
	ct_report_failures("ct_fill", "creates", &r, o.b.n, ", the count above is a lower bound");
	printf("created %lu\n", created);
	if (!o.quiet) {
		printf("seconds %.6f\n", secs);
		printf("rate %.0f\n", secs > 0 ? (double)o.b.n / secs : 0.0);
	}
	ct_writer_close(&w);
	return (r.failed || r.lost_reports) ? 1 : 0;
}
