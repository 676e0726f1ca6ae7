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

int main(int argc, char **argv)
{
	dump_main(argc, argv, "ct_rawwalk", NULL, NULL);
	printf("rss_kb %ld\n", vmhwm_kb());
	return 0;
}
