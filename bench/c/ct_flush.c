/* ct_flush: one kernel-side flush of the conntrack table of the current
 * netns, optionally only the entries whose mark matches: the floor of a bulk
 * delete by mark, which needs no dump.
 *
 *   ct_flush [--mark M[/MASK]] [--family ipv4|ipv6|all] [--allow-init-netns]
 *
 * Sends one IPCTNL_MSG_CT_DELETE without a tuple (nfgen version 1, so the
 * kernel honours the family), with CTA_MARK and CTA_MARK_MASK when --mark is
 * given (MASK defaults to 0xffffffff), and waits for the ACK. The kernel does
 * not say how many entries it removed.
 *
 * Refuses to run in the initial network namespace unless --allow-init-netns.
 *
 * Prints "seconds S" (request sent to ACK received) on stdout; exit status 1
 * with the error on stderr when the kernel refuses.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include "common.h"

static uint32_t parse_u32(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || end == s || v > 0xffffffffUL)
		die("invalid %s '%s'", what, s);
	return (uint32_t)v;
}

int main(int argc, char **argv)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint8_t family = AF_UNSPEC;
	int has_mark = 0;
	uint32_t mark = 0, mask = 0xffffffffu;
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	const struct nlmsgerr *e;
	double t0, secs;
	int n;

	refuse_init_netns(argc, argv);
	for (int i = 1; i < argc; i++) {
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--mark") == 0 && val) {
			char tmp[64];
			char *slash;

			snprintf(tmp, sizeof(tmp), "%s", val);
			slash = strchr(tmp, '/');
			if (slash) {
				*slash = '\0';
				mask = parse_u32(slash + 1, "mask");
			}
			mark = parse_u32(tmp, "mark");
			has_mark = 1;
			i++;
		} else if (strcmp(argv[i], "--family") == 0 && val) {
			family = parse_family(val);
			i++;
		} else if (strcmp(argv[i], "--allow-init-netns") == 0) {
			/* checked by refuse_init_netns() */
		} else {
			die("usage: ct_flush [--mark M[/MASK]] [--family ipv4|ipv6|all] [--allow-init-netns]");
		}
	}

	nl = ct_socket_open(0);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = CT_MSG(IPCTNL_MSG_CT_DELETE);
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = family;
	nfg->version = 1;
	nfg->res_id = 0;
	if (has_mark) {
		mnl_attr_put_u32(nlh, CTA_MARK, htonl(mark));
		mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(mask));
	}

	t0 = now_s();
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		die("sendto: %s", strerror(errno));
	for (;;) {
		n = (int)recv(mnl_socket_get_fd(nl), buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("recv: %s", strerror(errno));
		nlh = (struct nlmsghdr *)buf;
		if (mnl_nlmsg_ok(nlh, n) && nlh->nlmsg_type == NLMSG_ERROR)
			break;
	}
	secs = now_s() - t0;
	e = mnl_nlmsg_get_payload(nlh);
	mnl_socket_close(nl);
	if (e->error) {
		fprintf(stderr, "ct_flush: %s\n", strerror(-e->error));
		return 1;
	}
	printf("seconds %.6f\n", secs);
	return 0;
}
