#include "netns.h"

#include <fcntl.h>
#include <sched.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "async_op.h"
#include "nl.h"

namespace nfct {

int OpenNamespace(const std::string& path, Failure* f) {
  // Non-blocking: a FIFO or a device at the path must not hang the open (it would hold one of
  // libuv's pool threads for good); only an nsfs file is kept.
  int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    f->set(errno, "open", path);
    return -1;
  }
  struct statfs st;
  if (fstatfs(fd, &st) != 0) {
    f->set(errno, "fstatfs", path);
    close(fd);
    return -1;
  }
  if (static_cast<unsigned long>(st.f_type) != NSFS_MAGIC) {
    f->set(EINVAL, "open", path + ": not a namespace file");
    close(fd);
    return -1;
  }
  return fd;
}

bool RunInNamespace(const std::string& ns, Failure* f, const std::function<void()>& fn) {
  OwnedFd nsfd;
  if (!ns.empty()) {
    nsfd.reset(OpenNamespace(ns, f));
    if (nsfd.get() < 0) return false;
  }
  bool entered = false;
  std::thread helper([&]() {
    if (!EnterNamespace(nsfd.get(), f)) return;
    entered = true;
    fn();
  });
  helper.join();
  return entered;
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
