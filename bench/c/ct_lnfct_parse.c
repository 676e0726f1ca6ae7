/* ct_lnfct_parse: the same dump as ct_rawwalk, but every message is
 * decoded by libnetfilter_conntrack the way its own nfct_query() callback
 * path does (nfct_new + nfct_nlmsg_parse + nfct_destroy per entry), and a
 * few attributes are read so the work cannot be optimised away.
 *
 *   ct_lnfct_parse [--family ipv4|ipv6|all] [--buf BYTES] [--allow-init-netns]
 *
 * Prints entries, seconds, recv_* statistics, checksum and rss_kb.
 */
#define _GNU_SOURCE
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include "common.h"

struct parse_state {
	uint64_t checksum;
	unsigned long failed;
};

static void on_msg(const struct nlmsghdr *nlh, void *data)
{
	struct parse_state *ps = data;
	struct nf_conntrack *ct = nfct_new();

	if (!ct)
		die("nfct_new: out of memory");

	if (nfct_nlmsg_parse(nlh, ct) < 0) {
		ps->failed++;
	} else {
		ps->checksum += nfct_get_attr_u8(ct, ATTR_L4PROTO);
		if (nfct_attr_is_set(ct, ATTR_ORIG_IPV4_SRC))
			ps->checksum += nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC);
		if (nfct_attr_is_set(ct, ATTR_ORIG_PORT_SRC))
			ps->checksum += nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC);
		if (nfct_attr_is_set(ct, ATTR_MARK))
			ps->checksum += nfct_get_attr_u32(ct, ATTR_MARK);
		if (nfct_attr_is_set(ct, ATTR_TIMEOUT))
			ps->checksum += nfct_get_attr_u32(ct, ATTR_TIMEOUT);
		if (nfct_attr_is_set(ct, ATTR_STATUS))
			ps->checksum += nfct_get_attr_u32(ct, ATTR_STATUS);
	}
	nfct_destroy(ct);
}

static void usage(void)
{
	fprintf(stderr, "usage: ct_lnfct_parse [--family ipv4|ipv6|all] [--buf BYTES] [--allow-init-netns]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct parse_state ps = { 0 };
	uint8_t family = AF_INET;
	size_t bufsz = 1 << 20;
	struct dump_stats st;
	struct mnl_socket *nl;
	int err;
	char *buf;

	refuse_init_netns(argc, argv);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--allow-init-netns") == 0)
			continue;
		if (strcmp(argv[i], "--family") == 0 && i + 1 < argc)
			family = parse_family(argv[++i]);
		else if (strcmp(argv[i], "--buf") == 0 && i + 1 < argc)
			bufsz = strtoul(argv[++i], NULL, 0);
		else
			usage();
	}
	if (bufsz < 4096)
		die("--buf must be at least 4096");
	buf = malloc(bufsz);
	if (!buf)
		die("malloc(%zu) failed", bufsz);

	nl = ct_socket_open(1 << 20);
	err = ct_dump(nl, family, buf, bufsz, on_msg, &ps, &st);
	if (err)
		die("dump failed: %s", strerror(err));
	print_dump_stats(&st);
	printf("checksum %llu\n", (unsigned long long)ps.checksum);
	if (ps.failed)
		printf("parse_failed %lu\n", ps.failed);
	printf("rss_kb %ld\n", vmhwm_kb());
	mnl_socket_close(nl);
	free(buf);
	return ps.failed ? 1 : 0;
}
