/* ct_rawwalk: dump the conntrack table of the current netns and count the
 * messages without parsing any attribute. This is the floor: the kernel's
 * own cost plus the copies, nothing else.
 *
 *   ct_rawwalk [--family ipv4|ipv6|all] [--buf BYTES] [--allow-init-netns]
 *
 * Prints "key value" lines: entries, seconds (request to NLMSG_DONE),
 * recv_* statistics about the chunks the kernel handed back, rss_kb (VmHWM).
 */
#define _GNU_SOURCE
#include "common.h"

static void usage(void)
{
	fprintf(stderr, "usage: ct_rawwalk [--family ipv4|ipv6|all] [--buf BYTES] [--allow-init-netns]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint8_t family = AF_INET;
	size_t bufsz = 1 << 20;
	struct dump_stats st;
	struct mnl_socket *nl;
	char *buf;
	int err;

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
	err = ct_dump(nl, family, buf, bufsz, NULL, NULL, &st);
	if (err)
		die("dump failed: %s", strerror(err));
	print_dump_stats(&st);
	printf("rss_kb %ld\n", vmhwm_kb());
	mnl_socket_close(nl);
	free(buf);
	return 0;
}
