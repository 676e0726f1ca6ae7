/* runstat: run a command and report its wall time, CPU time and peak RSS
 * (like /usr/bin/time -f %M, with sub-millisecond wall time).
 *
 *   runstat [-o FILE] -- CMD [ARGS...]
 *
 * Writes "key value" lines (wall_s, user_s, sys_s, maxrss_kb, status) to
 * FILE, or to stderr without -o. Exits with the command's exit status
 * (128 + signal number if it was killed). SIGINT, SIGTERM and SIGHUP are
 * forwarded to the command.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>

static volatile pid_t child = -1;

static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	const char *outpath = NULL;
	struct timespec t0, t1;
	struct rusage ru;
	struct sigaction sa;
	int i = 1, status, code;
	FILE *out;
	pid_t pid;

	if (i + 1 < argc && strcmp(argv[i], "-o") == 0) {
		outpath = argv[i + 1];
		i += 2;
	}
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i >= argc) {
		fprintf(stderr, "usage: runstat [-o FILE] -- CMD [ARGS...]\n");
		return 2;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0) {
		perror("runstat: fork");
		return 2;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		execvp(argv[i], argv + i);
		fprintf(stderr, "runstat: exec %s: %s\n", argv[i], strerror(errno));
		_exit(127);
	}
	child = pid;
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("runstat: wait4");
			return 2;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);

	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	out = outpath ? fopen(outpath, "w") : stderr;
	if (!out) {
		perror("runstat: open output");
		return 2;
	}
	fprintf(out, "wall_s %.6f\n", (double)(t1.tv_sec - t0.tv_sec) +
		(double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	fprintf(out, "user_s %.6f\n", tv_s(ru.ru_utime));
	fprintf(out, "sys_s %.6f\n", tv_s(ru.ru_stime));
	fprintf(out, "maxrss_kb %ld\n", ru.ru_maxrss);
	fprintf(out, "status %d\n", code);
	if (outpath)
		fclose(out);
	return code;
}
