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
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include "common.h"

#define CONTROL_NET 0x0aff0000u  /* 10.255.0.0/16 */
#define SENTINEL_SRC 0x0afffffeu /* 10.255.255.254 */

struct state {
	unsigned long counts[4]; /* new, update, destroy, other */
	struct recv_clock clock;
	int sentinel;
};

static int on_event(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
	struct state *st = data;
	uint32_t src = 0;

	if (nfct_attr_is_set(ct, ATTR_ORIG_IPV4_SRC) > 0)
		src = ntohl(nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC));
	if ((src & 0xffff0000u) == CONTROL_NET) {
		recv_ready(&st->clock);
		if (src == SENTINEL_SRC && type == NFCT_T_NEW) {
			st->sentinel = 1;
			return NFCT_CB_STOP;
		}
		return NFCT_CB_CONTINUE;
	}
	recv_count(&st->clock);
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
	struct recv_opts o = { .rcvbuf = 0, .quiet = 1.0, .max_seconds = 60 };
	unsigned long enobufs = 0;
	int actual;

	refuse_init_netns(argc, argv);
	for (int i = 1; i < argc; i++) {
		if (!recv_arg(argc, argv, &i, &o))
			die("usage: ct_events [--rcvbuf BYTES] [--quiet-ms MS] [--max-seconds S]");
	}
	recv_check(&o);

	memset(&st, 0, sizeof(st));
	recv_start(&st.clock);

	h = nfct_open(CONNTRACK, NF_NETLINK_CONNTRACK_NEW | NF_NETLINK_CONNTRACK_UPDATE |
				 NF_NETLINK_CONNTRACK_DESTROY);
	if (!h)
		die("nfct_open: %s", strerror(errno));
	if (o.rcvbuf)
		nfnl_rcvbufsiz(nfct_nfnlh(h), (unsigned int)o.rcvbuf);
	/* nfct_catch() returns with EAGAIN now and then so quiet periods can be noticed. */
	actual = recv_socket(nfct_fd(h));
	nfct_callback_register(h, NFCT_T_ALL, on_event, &st);

	st.clock.start = now_s();
	while (!st.sentinel) {
		int r = nfct_catch(h);

		if (r == -1) {
			if (errno == ENOBUFS) {
				enobufs++;
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				die("nfct_catch: %s", strerror(errno));
		}
		if (recv_over(&st.clock, &o))
			break;
	}

	printf("received %lu\n", st.clock.received);
	printf("new %lu\n", st.counts[0]);
	printf("update %lu\n", st.counts[1]);
	printf("destroy %lu\n", st.counts[2]);
	printf("enobufs %lu\n", enobufs);
	recv_print_times(&st.clock, st.sentinel);
	printf("rcvbuf %d\n", actual);
	printf("rss_kb %ld\n", vmhwm_kb());
	nfct_close(h);
	return 0;
}
