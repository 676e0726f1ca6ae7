/* ct_events: a plain libnetfilter_conntrack event receiver, the C peer of ct.events().
 *
 *   ct_events [--rcvbuf BYTES] [--quiet-ms MS] [--max-seconds S] [--allow-init-netns]
 *
 * nfct_open(CONNTRACK, NEW|UPDATE|DESTROY groups), nfct_callback_register(NFCT_T_ALL) and
 * nfct_catch() in a loop: every event is parsed into a struct nf_conntrack by the library and
 * counted. nfct_catch() failing with ENOBUFS (the kernel dropped events) is counted and the
 * loop goes on. --rcvbuf sets the socket receive buffer with nfnl_rcvbufsiz() (SO_RCVBUFFORCE,
 * past rmem_max, as root); without it the socket keeps the default (rmem_default).
 *
 * Entries from 10.255.0.0/16 are control entries of bench/c/ct_churn and are not counted: the
 * first one seen prints "ready PID" (a probe: the socket is subscribed), 10.255.255.254 (the
 * sentinel) ends the run. Otherwise the run ends once burst events have been seen and none
 * came for --quiet-ms (default 1000), or after --max-seconds (default 60) in all.
 *
 * A SIGCONT (after the harness stopped the process with SIGSTOP to let the socket fill) is
 * timed: drain_seconds is from the SIGCONT to the last burst event.
 *
 * Output, "key value" lines: received, new, update, destroy, enobufs, seconds (first to last
 * burst event), drain_seconds (or -1), sentinel (0/1), rcvbuf (SO_RCVBUF as the kernel reports
 * it: what it charges queued messages against; SO_RCVBUFFORCE of B gives 2B), rss_kb.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include "common.h"

#define CONTROL_NET 0x0aff0000u  /* 10.255.0.0/16 */
#define SENTINEL_SRC 0x0afffffeu /* 10.255.255.254 */

struct state {
	unsigned long counts[4]; /* new, update, destroy, other */
	unsigned long received;
	double first, last;
	int ready;
	int sentinel;
};

static volatile sig_atomic_t continued;
static struct timespec cont_ts;

static void on_sigcont(int sig)
{
	(void)sig;
	clock_gettime(CLOCK_MONOTONIC, &cont_ts);
	continued = 1;
}

static int on_event(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
	struct state *st = data;
	uint32_t src = 0;

	if (nfct_attr_is_set(ct, ATTR_ORIG_IPV4_SRC) > 0)
		src = ntohl(nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC));
	if ((src & 0xffff0000u) == CONTROL_NET) {
		if (!st->ready) {
			st->ready = 1;
			printf("ready %ld\n", (long)getpid());
			fflush(stdout);
		}
		if (src == SENTINEL_SRC && type == NFCT_T_NEW) {
			st->sentinel = 1;
			return NFCT_CB_STOP;
		}
		return NFCT_CB_CONTINUE;
	}
	st->last = now_s();
	if (st->received++ == 0)
		st->first = st->last;
	switch (type) {
	case NFCT_T_NEW:
		st->counts[0]++;
		break;
	case NFCT_T_UPDATE:
		st->counts[1]++;
		break;
	case NFCT_T_DESTROY:
		st->counts[2]++;
		break;
	default:
		st->counts[3]++;
	}
	return NFCT_CB_CONTINUE;
}

int main(int argc, char **argv)
{
	struct nfct_handle *h;
	struct state st;
	struct sigaction sa;
	struct timeval tv = { .tv_sec = 0, .tv_usec = 100000 };
	unsigned long rcvbuf = 0, enobufs = 0;
	double quiet = 1.0, max_seconds = 60, start, drain = -1;
	int actual = 0;
	socklen_t alen = sizeof(actual);

	refuse_init_netns(argc, argv);
	for (int i = 1; i < argc; i++) {
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(argv[i], "--rcvbuf") == 0 && val) {
			rcvbuf = strtoul(val, NULL, 0);
			i++;
		} else if (strcmp(argv[i], "--quiet-ms") == 0 && val) {
			quiet = strtod(val, NULL) / 1000.0;
			i++;
		} else if (strcmp(argv[i], "--max-seconds") == 0 && val) {
			max_seconds = strtod(val, NULL);
			i++;
		} else if (strcmp(argv[i], "--allow-init-netns") != 0) {
			die("usage: ct_events [--rcvbuf BYTES] [--quiet-ms MS] [--max-seconds S]");
		}
	}
	if (quiet <= 0 || max_seconds <= 0 || max_seconds > 600)
		die("--quiet-ms must be > 0, --max-seconds in (0, 600]");

	memset(&st, 0, sizeof(st));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigcont;
	sigaction(SIGCONT, &sa, NULL);

	h = nfct_open(CONNTRACK, NF_NETLINK_CONNTRACK_NEW | NF_NETLINK_CONNTRACK_UPDATE |
				 NF_NETLINK_CONNTRACK_DESTROY);
	if (!h)
		die("nfct_open: %s", strerror(errno));
	if (rcvbuf)
		nfnl_rcvbufsiz(nfct_nfnlh(h), (unsigned int)rcvbuf);
	getsockopt(nfct_fd(h), SOL_SOCKET, SO_RCVBUF, &actual, &alen);
	/* nfct_catch() returns with EAGAIN now and then so quiet periods can be noticed. */
	if (setsockopt(nfct_fd(h), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
		die("SO_RCVTIMEO: %s", strerror(errno));
	nfct_callback_register(h, NFCT_T_ALL, on_event, &st);

	start = now_s();
	while (!st.sentinel) {
		int r = nfct_catch(h);
		double t = now_s();

		if (r == -1) {
			if (errno == ENOBUFS) {
				enobufs++;
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				die("nfct_catch: %s", strerror(errno));
		}
		if (st.received > 0 && t - st.last >= quiet)
			break;
		if (t - start >= max_seconds)
			break;
	}
	if (continued && st.received > 0)
		drain = st.last - ((double)cont_ts.tv_sec + (double)cont_ts.tv_nsec / 1e9);

	printf("received %lu\n", st.received);
	printf("new %lu\n", st.counts[0]);
	printf("update %lu\n", st.counts[1]);
	printf("destroy %lu\n", st.counts[2]);
	printf("enobufs %lu\n", enobufs);
	printf("seconds %.6f\n", st.received ? st.last - st.first : 0.0);
	printf("drain_seconds %.6f\n", drain);
	printf("sentinel %d\n", st.sentinel);
	printf("rcvbuf %d\n", actual);
	printf("rss_kb %ld\n", vmhwm_kb());
	nfct_close(h);
	return 0;
}
