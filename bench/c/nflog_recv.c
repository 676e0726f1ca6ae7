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
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>
#include <libnetfilter_log/libnetfilter_log.h>
#include <libnfnetlink/libnfnetlink.h>
#include "common.h"

#define RECV_SIZE (1 << 20)

struct state {
	unsigned long received, other;
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

static int on_packet(struct nflog_g_handle *gh, struct nfgenmsg *nfmsg, struct nflog_data *nfa,
		     void *data)
{
	struct state *st = data;
	const char *prefix = nflog_get_prefix(nfa);

	(void)gh;
	(void)nfmsg;
	if (prefix && strcmp(prefix, "flood") == 0) {
		st->last = now_s();
		if (st->received++ == 0)
			st->first = st->last;
		return 0;
	}
	st->other++;
	if (prefix && strcmp(prefix, "probe") == 0 && !st->ready) {
		st->ready = 1;
		printf("ready %ld\n", (long)getpid());
		fflush(stdout);
	} else if (prefix && strcmp(prefix, "end") == 0) {
		st->sentinel = 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct nflog_handle *h;
	struct nflog_g_handle *gh;
	struct state st;
	struct sigaction sa;
	struct timeval tv = { .tv_sec = 0, .tv_usec = 100000 };
	unsigned long rcvbuf = 0, enobufs = 0, recvs = 0, bytes = 0;
	long nlbufsiz = -1, qthresh = -1, timeout = -1, group = -1;
	double quiet = 1.5, max_seconds = 60, start, drain = -1;
	int fd, actual = 0;
	socklen_t alen = sizeof(actual);
	char *buf;

	refuse_init_netns(argc, argv);
	for (int i = 1; i < argc; i++) {
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(argv[i], "--rcvbuf") == 0 && val) {
			rcvbuf = strtoul(val, NULL, 0);
			i++;
		} else if (strcmp(argv[i], "--nlbufsiz") == 0 && val) {
			nlbufsiz = strtol(val, NULL, 0);
			i++;
		} else if (strcmp(argv[i], "--qthresh") == 0 && val) {
			qthresh = strtol(val, NULL, 0);
			i++;
		} else if (strcmp(argv[i], "--timeout") == 0 && val) {
			timeout = strtol(val, NULL, 0);
			i++;
		} else if (strcmp(argv[i], "--quiet-ms") == 0 && val) {
			quiet = strtod(val, NULL) / 1000.0;
			i++;
		} else if (strcmp(argv[i], "--max-seconds") == 0 && val) {
			max_seconds = strtod(val, NULL);
			i++;
		} else if (strcmp(argv[i], "--allow-init-netns") == 0) {
			/* handled by refuse_init_netns() */
		} else if (argv[i][0] != '-' && group < 0) {
			group = strtol(argv[i], NULL, 0);
		} else {
			die("usage: nflog_recv GROUP [--rcvbuf BYTES] [--nlbufsiz BYTES] [--qthresh N] "
			    "[--timeout CS] [--quiet-ms MS] [--max-seconds S]");
		}
	}
	if (group < 0 || group > 65535)
		die("GROUP must be in 0..65535");
	if (quiet <= 0 || max_seconds <= 0 || max_seconds > 600)
		die("--quiet-ms must be > 0, --max-seconds in (0, 600]");

	memset(&st, 0, sizeof(st));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigcont;
	sigaction(SIGCONT, &sa, NULL);
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
	if (rcvbuf)
		nfnl_rcvbufsiz(nflog_nfnlh(h), (unsigned int)rcvbuf);
	fd = nflog_fd(h);
	getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &actual, &alen);
	/* recv() returns with EAGAIN now and then so quiet periods can be noticed. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
		die("SO_RCVTIMEO: %s", strerror(errno));
	nflog_callback_register(gh, on_packet, &st);

	start = now_s();
	while (!st.sentinel) {
		ssize_t n = recv(fd, buf, RECV_SIZE, 0);
		double t;

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
		t = now_s();
		if (st.received > 0 && t - st.last >= quiet)
			break;
		if (t - start >= max_seconds)
			break;
	}
	if (continued && st.received > 0)
		drain = st.last - ((double)cont_ts.tv_sec + (double)cont_ts.tv_nsec / 1e9);

	printf("received %lu\n", st.received);
	printf("other %lu\n", st.other);
	printf("enobufs %lu\n", enobufs);
	printf("seconds %.6f\n", st.received ? st.last - st.first : 0.0);
	printf("drain_seconds %.6f\n", drain);
	printf("sentinel %d\n", st.sentinel);
	printf("recvs %lu\n", recvs);
	printf("bytes %lu\n", bytes);
	printf("rcvbuf %d\n", actual);
	printf("rss_kb %ld\n", vmhwm_kb());
	nflog_unbind_group(gh);
	nflog_close(h);
	free(buf);
	return 0;
}
