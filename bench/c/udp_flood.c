/* udp_flood: a bounded flood of small UDP datagrams, as fast as sendmmsg() goes, for the NFLOG
 * benchmark (a `udp dport P log group N` rule on the OUTPUT hook logs each one).
 *
 *   udp_flood N [--dst A.B.C.D] [--port P] [--size BYTES] [--batch K] [--rate PPS]
 *               [--max-seconds S] [--sentinel PORT] [--allow-init-netns]
 *
 * Sends N datagrams of --size bytes (default 64) of payload to --dst (default 127.0.0.1) port
 * --port (default 9999), --batch (default 64, at most 1024) per sendmmsg(). The socket is not
 * connected, so the ICMP port unreachable that comes back when nothing listens does not turn
 * later sends into ECONNREFUSED. Each datagram carries its index (a 32-bit big-endian number)
 * in its first 4 bytes. --rate paces the flood to PPS datagrams/s (before each batch it sleeps
 * until that batch is due by the start time and the rate; 0, the default, is as fast as it
 * goes). Stops early after --max-seconds (default 30). --sentinel PORT sends one
 * more datagram to that port after the flood (not counted in "sent").
 *
 * Output, "key value" lines: sent, seconds (first to last sendmmsg), rate (sent / seconds),
 * calls (sendmmsg calls), errors (failed sendmmsg calls, retried), sentinel (0/1),
 * timed_out (0/1).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include "common.h"

#define MAX_BATCH 1024
#define MAX_SIZE 1400

int main(int argc, char **argv)
{
	unsigned long n = 0, sent = 0, calls = 0, errors = 0;
	unsigned int batch = 64, size = 64;
	int port = 9999, sentinel_port = 0, fd, sentinel = 0, timed_out = 0;
	double max_seconds = 30, rate = 0, t0, t1;
	const char *dst = "127.0.0.1";
	struct sockaddr_in to, sto;
	static struct mmsghdr msgs[MAX_BATCH];
	static struct iovec iov[MAX_BATCH];
	static unsigned char data[MAX_BATCH][MAX_SIZE];

	refuse_init_netns(argc, argv);
	for (int i = 1; i < argc; i++) {
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(argv[i], "--dst") == 0 && val) {
			dst = val;
			i++;
		} else if (strcmp(argv[i], "--port") == 0 && val) {
			port = atoi(val);
			i++;
		} else if (strcmp(argv[i], "--size") == 0 && val) {
			size = (unsigned int)strtoul(val, NULL, 0);
			i++;
		} else if (strcmp(argv[i], "--batch") == 0 && val) {
			batch = (unsigned int)strtoul(val, NULL, 0);
			i++;
		} else if (strcmp(argv[i], "--rate") == 0 && val) {
			rate = strtod(val, NULL);
			i++;
		} else if (strcmp(argv[i], "--max-seconds") == 0 && val) {
			max_seconds = strtod(val, NULL);
			i++;
		} else if (strcmp(argv[i], "--sentinel") == 0 && val) {
			sentinel_port = atoi(val);
			i++;
		} else if (strcmp(argv[i], "--allow-init-netns") == 0) {
			/* handled by refuse_init_netns() */
		} else if (argv[i][0] != '-' && n == 0) {
			n = strtoul(argv[i], NULL, 0);
		} else {
			die("usage: udp_flood N [--dst A.B.C.D] [--port P] [--size BYTES] [--batch K] "
			    "[--rate PPS] [--max-seconds S] [--sentinel PORT]");
		}
	}
	if (n == 0 || n > 100000000UL)
		die("N must be in 1..100000000");
	if (batch < 1 || batch > MAX_BATCH)
		die("--batch must be in 1..%d", MAX_BATCH);
	if (size < 4 || size > MAX_SIZE)
		die("--size must be in 4..%d", MAX_SIZE);
	if (port < 1 || port > 65535 || sentinel_port < 0 || sentinel_port > 65535)
		die("ports must be in 1..65535");
	if (rate < 0 || rate > 1e9)
		die("--rate must be in 0..1e9");
	if (max_seconds <= 0 || max_seconds > 600)
		die("--max-seconds must be in (0, 600]");

	memset(&to, 0, sizeof(to));
	to.sin_family = AF_INET;
	to.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, dst, &to.sin_addr) != 1)
		die("--dst: not an IPv4 address: %s", dst);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));

	for (unsigned int i = 0; i < batch; i++) {
		memset(data[i], 'x', size);
		iov[i].iov_base = data[i];
		iov[i].iov_len = size;
		msgs[i].msg_hdr.msg_name = &to;
		msgs[i].msg_hdr.msg_namelen = sizeof(to);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}

	t0 = t1 = now_s();
	while (sent < n) {
		unsigned int k = n - sent < batch ? (unsigned int)(n - sent) : batch;
		int r;

		if (rate > 0) {
			/* Batch j may start at t0 + sent / rate. */
			double due = t0 + (double)sent / rate, now = now_s();
			if (due > now) {
				struct timespec ts = { (time_t)(due - now), (long)(((due - now) - (double)(time_t)(due - now)) * 1e9) };
				nanosleep(&ts, NULL);
			}
		}
		for (unsigned int i = 0; i < k; i++) {
			uint32_t idx = htonl((uint32_t)(sent + i));
			memcpy(data[i], &idx, 4);
		}
		r = sendmmsg(fd, msgs, k, 0);
		calls++;
		if (r < 0) {
			/* ENOBUFS/EAGAIN under pressure: try again (bounded by --max-seconds). */
			if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED)
				die("sendmmsg: %s", strerror(errno));
			errors++;
		} else {
			sent += (unsigned long)r;
		}
		t1 = now_s();
		if (t1 - t0 >= max_seconds) {
			timed_out = sent < n;
			break;
		}
	}

	if (sentinel_port) {
		memset(&sto, 0, sizeof(sto));
		sto = to;
		sto.sin_port = htons((uint16_t)sentinel_port);
		if (sendto(fd, data[0], size, 0, (struct sockaddr *)&sto, sizeof(sto)) == (ssize_t)size)
			sentinel = 1;
	}
	close(fd);

	printf("sent %lu\n", sent);
	printf("seconds %.6f\n", t1 - t0);
	printf("rate %.0f\n", t1 > t0 ? (double)sent / (t1 - t0) : 0.0);
	printf("calls %lu\n", calls);
	printf("errors %lu\n", errors);
	printf("sentinel %d\n", sentinel);
	printf("timed_out %d\n", timed_out);
	return timed_out ? 3 : 0;
}
