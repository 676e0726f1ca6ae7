/* Shared helpers for the bench C tools: netlink socket set-up, the
 * conntrack dump loop, timing and peak RSS. Header-only so build.sh
 * stays a one-liner per tool. */
#ifndef NFCT_BENCH_COMMON_H
#define NFCT_BENCH_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

static inline void ct_send_dump(struct mnl_socket *nl, uint8_t family, uint32_t seq)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = CT_MSG(IPCTNL_MSG_CT_GET);
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
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
		ssize_t n = recv(mnl_socket_get_fd(nl), buf, bufsz, 0);
		const struct nlmsghdr *nlh;
		int len;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				st->enobufs++;
				continue;
			}
			die("recv: %s", strerror(errno));
		}
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

#endif
