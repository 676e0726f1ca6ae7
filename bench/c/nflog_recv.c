/* nflog_recv: a plain libnetfilter_log receiver, the C peer of Nflog.subscribe().
 *
 *   nflog_recv GROUP [--rcvbuf BYTES] [--nlbufsiz BYTES] [--qthresh N] [--timeout CS]
 *              [--quiet-ms MS] [--max-seconds S] [--allow-init-netns]
 *
 * nflog_open(), nflog_bind_group(GROUP), nflog_set_mode(NFULNL_COPY_PACKET, 0xffff),
 * nflog_callback_register() and a recv() loop handing every buffer to nflog_handle_packet():
 * the library parses each packet message into its attribute table and calls back, where the
 * prefix is read. recv() failing with ENOBUFS (the kernel dropped packets) is counted and the
 * loop goes on. Without options the kernel's defaults stay: socket buffer rmem_default,
 * nlbufsiz NLMSG_GOODSIZE (~4 KiB), qthreshold 100, flush timeout 1 s. --rcvbuf sets the
 * receive buffer with nfnl_rcvbufsiz() (SO_RCVBUFFORCE, past rmem_max, as root); --nlbufsiz,
 * --qthresh, --timeout (1/100 s) go to nflog_set_nlbufsiz/qthresh/timeout().
 *
 * Packets are told apart by their log prefix (bench/nflog.mjs's rules): "probe" packets are
 * not counted, and the first one prints "ready PID" (the group is bound and delivering); "end"
 * (the sentinel) ends the run; "flood" packets are counted. Otherwise the run ends once flood
 * packets have been seen and none came for --quiet-ms (default 1500), or after --max-seconds
 * (default 60) in all.
 *
 * A SIGCONT (after the harness stopped the process with SIGSTOP to let the socket fill) is
 * timed: drain_seconds is from the SIGCONT to the last flood packet.
 *
 * Output, "key value" lines: received, other (packets with another prefix, probes and the
 * sentinel included), enobufs, seconds (first to last flood packet), drain_seconds (or -1),
 * sentinel (0/1), recvs (recv() calls that returned data), bytes, rcvbuf (SO_RCVBUF as the
 * kernel reports it), rss_kb.
 */
#define _GNU_SOURCE
#include <libnetfilter_log/libnetfilter_log.h>
#include <libnfnetlink/libnfnetlink.h>
#include "common.h"

#define RECV_SIZE (1 << 20)

struct state {
	unsigned long other;
	struct recv_clock clock;
	int sentinel;
};

static int on_packet(struct nflog_g_handle *gh, struct nfgenmsg *nfmsg, struct nflog_data *nfa,
		     void *data)
{
	struct state *st = data;
	const char *prefix = nflog_get_prefix(nfa);

	(void)gh;
	(void)nfmsg;
	if (prefix && strcmp(prefix, "flood") == 0) {
		recv_count(&st->clock);
		return 0;
	}
	st->other++;
	if (prefix && strcmp(prefix, "probe") == 0)
		recv_ready(&st->clock);
	else if (prefix && strcmp(prefix, "end") == 0)
		st->sentinel = 1;
	return 0;
}

int main(int argc, char **argv)
{
	struct nflog_handle *h;
	struct nflog_g_handle *gh;
	struct state st;
	struct recv_opts o = { .rcvbuf = 0, .quiet = 1.5, .max_seconds = 60 };
	unsigned long enobufs = 0, recvs = 0, bytes = 0;
	long nlbufsiz = -1, qthresh = -1, timeout = -1, group = -1;
	int fd, actual;
	char *buf;

	refuse_init_netns(argc, argv);
	for (int i = 1; i < argc; i++) {
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (recv_arg(argc, argv, &i, &o)) {
			/* --rcvbuf, --quiet-ms, --max-seconds, --allow-init-netns */
		} else if (strcmp(argv[i], "--nlbufsiz") == 0 && val) {
			nlbufsiz = strtol(val, NULL, 0);
			i++;
		} else if (strcmp(argv[i], "--qthresh") == 0 && val) {
			qthresh = strtol(val, NULL, 0);
			i++;
		} else if (strcmp(argv[i], "--timeout") == 0 && val) {
			timeout = strtol(val, NULL, 0);
			i++;
		} else if (argv[i][0] != '-' && group < 0) {
			group = strtol(argv[i], NULL, 0);
		} else {
			die("usage: nflog_recv GROUP [--rcvbuf BYTES] [--nlbufsiz BYTES] [--qthresh N] "
			    "[--timeout CS] [--quiet-ms MS] [--max-seconds S]");
		}
	}
	if (group < 0 || group > 65535)
		die("GROUP must be in 0..65535");
	recv_check(&o);

	memset(&st, 0, sizeof(st));
	recv_start(&st.clock);
	buf = malloc(RECV_SIZE);
	if (!buf)
		die("out of memory");

	h = nflog_open();
	if (!h)
		die("nflog_open: %s", strerror(errno));
	gh = nflog_bind_group(h, (uint16_t)group);
	if (!gh)
		die("nflog_bind_group %ld: %s (is the group bound by another socket?)", group, strerror(errno));
	if (nflog_set_mode(gh, NFULNL_COPY_PACKET, 0xffff) < 0)
		die("nflog_set_mode: %s", strerror(errno));
	if (nlbufsiz >= 0 && nflog_set_nlbufsiz(gh, (uint32_t)nlbufsiz) < 0)
		die("nflog_set_nlbufsiz: %s", strerror(errno));
	if (qthresh >= 0 && nflog_set_qthresh(gh, (uint32_t)qthresh) < 0)
		die("nflog_set_qthresh: %s", strerror(errno));
	if (timeout >= 0 && nflog_set_timeout(gh, (uint32_t)timeout) < 0)
		die("nflog_set_timeout: %s", strerror(errno));
	if (o.rcvbuf)
		nfnl_rcvbufsiz(nflog_nfnlh(h), (unsigned int)o.rcvbuf);
	fd = nflog_fd(h);
	/* recv() returns with EAGAIN now and then so quiet periods can be noticed. */
	actual = recv_socket(fd);
	nflog_callback_register(gh, on_packet, &st);

	st.clock.start = now_s();
	while (!st.sentinel) {
		ssize_t n = recv(fd, buf, RECV_SIZE, 0);

		if (n > 0) {
			recvs++;
			bytes += (unsigned long)n;
			nflog_handle_packet(h, buf, (int)n);
		} else if (n < 0) {
			if (errno == ENOBUFS)
				enobufs++;
			else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				die("recv: %s", strerror(errno));
		}
		if (recv_over(&st.clock, &o))
			break;
	}

	printf("received %lu\n", st.clock.received);
	printf("other %lu\n", st.other);
	printf("enobufs %lu\n", enobufs);
	recv_print_times(&st.clock, st.sentinel);
	printf("recvs %lu\n", recvs);
	printf("bytes %lu\n", bytes);
	printf("rcvbuf %d\n", actual);
	printf("rss_kb %ld\n", vmhwm_kb());
	nflog_unbind_group(gh);
	nflog_close(h);
	free(buf);
	return 0;
}
