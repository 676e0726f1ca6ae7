#include "netns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "nl.h"

namespace nfct {

int OpenNamespace(const std::string& path, Failure* f) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    f->set(errno, "open", path);
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    f->set(errno, "fstat", path);
    close(fd);
    return -1;
  }
  return fd;
}

bool EnterNamespace(int nsfd, Failure* f) {
  if (nsfd < 0) return true;
  if (setns(nsfd, CLONE_NEWNET) != 0) {
    const int err = errno;
    f->set(err, "setns", err == EINVAL ? "not a network namespace" : "");
    return false;
  }
  return true;
}

int OpenNetlinkIn(int nsfd, int protocol, Failure* f) {
  if (nsfd < 0) return NlOpen(protocol, f);
  int fd = -1;
  std::thread helper([&]() {
    if (EnterNamespace(nsfd, f)) fd = NlOpen(protocol, f);
  });
  helper.join();
  return fd;
}

}  // namespace nfct
