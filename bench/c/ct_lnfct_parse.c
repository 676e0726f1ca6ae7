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

int main(int argc, char **argv)
{
	struct parse_state ps = { 0 };

	dump_main(argc, argv, "ct_lnfct_parse", on_msg, &ps);
	printf("checksum %llu\n", (unsigned long long)ps.checksum);
	if (ps.failed)
		printf("parse_failed %lu\n", ps.failed);
	printf("rss_kb %ld\n", vmhwm_kb());
	return ps.failed ? 1 : 0;
}
