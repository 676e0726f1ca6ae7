// A dump on two threads. The kernel builds each part of a dump inside the recv() that asks for
// it (walking its hash and filling the datagram), so a reader that receives and decodes on one
// thread adds the decoding to the kernel's time. Here a receiving thread only calls recv() into
// a few chunks, while the reader thread decodes the chunks already read, in order: the dump
// takes about the longer of the two instead of their sum. The receiving thread never enters
// the namespace: the socket is already bound there, and every request, decoder socket and
// decoder call stays on the reader thread, which did.
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "reader.h"

namespace nfct {

namespace {
// The largest datagram asked for (the kernel sends at most what fits), and how many may wait:
// the receiving thread stays at most this far ahead of the decoder. A chunk's pages are touched
// only as far as the kernel fills them.
constexpr size_t kDumpRecvSize = 256 * 1024;
constexpr size_t kDumpChunks = 8;
}  // namespace

std::unique_ptr<Batch> Reader::RunDump(Exchange* x, Failure* fail) {
  auto batch = NewBatch();
  if (x->done || Ending()) return batch;
  auto first = std::make_unique<Chunk>();
  first->data.reset(new uint8_t[kDumpRecvSize + NLMSG_ALIGNTO]);
  // The first datagram is read here: a dump that fits in it (a small table, a filtered one)
  // ends without a second thread.
  for (;;) {
    if (!WaitReadable(fail)) return batch;
    const ssize_t n = recv(fd_, first->data.get(), kDumpRecvSize, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      fail->set(errno, "recv", "netlink dump");
      return batch;
    }
    std::memset(first->data.get() + n, 0, NLMSG_ALIGNTO);
    if (!Consume(first->data.get(), static_cast<int>(n), x, batch, fail)) x->done = true;
    break;
  }
  if (x->done || Ending()) return batch;
  // Tells the receiving thread to end (the dump is over or failed); wake_fd_ tells it to stop.
  const int over_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (over_fd < 0) {
    fail->set(errno, "eventfd");
    return batch;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    free_chunks_.push_back(first.get());
    chunks_.push_back(std::move(first));
    for (size_t i = 1; i < kDumpChunks; i++) {
      auto c = std::make_unique<Chunk>();
      c->data.reset(new uint8_t[kDumpRecvSize + NLMSG_ALIGNTO]);
      free_chunks_.push_back(c.get());
      chunks_.push_back(std::move(c));
    }
    reading_over_ = false;
  }
  std::thread receiver([this, over_fd]() { ReceiveDump(over_fd); });

  while (!x->done && !Ending()) {
    Chunk* c = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this]() { return !read_chunks_.empty() || reading_over_ || Ending(); });
      if (Ending() || read_chunks_.empty()) break;
      c = read_chunks_.front();
      read_chunks_.pop_front();
    }
    if (c->err != 0) {
      fail->set(c->err, "recv", "netlink dump");
      x->done = true;
    } else if (!Consume(c->data.get(), c->len, x, batch, fail)) {
      x->done = true;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      free_chunks_.push_back(c);
    }
    cv_.notify_all();
  }
  // The receiving thread ran out of datagrams (it failed, or was stopped) before the dump's
  // end: a failure it reported went through its last chunk; otherwise the reader is ending.
  uint64_t one = 1;
  if (write(over_fd, &one, sizeof(one)) < 0) {
    // An eventfd written once cannot be full; nothing to do.
  }
  cv_.notify_all();
  receiver.join();
  close(over_fd);
  std::lock_guard<std::mutex> lock(mu_);
  read_chunks_.clear();
  free_chunks_.clear();
  chunks_.clear();
  return batch;
}

void Reader::ReceiveDump(int over_fd) {
  pthread_setname_np(pthread_self(), "nfct-dump-recv");
  bool over = false;
  while (!over) {
    Chunk* c = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // The reader thread hands a chunk back after each one it decoded, also the last: the
      // dump's end is then seen in poll() (over_fd). Stop() and EndEarly() notify.
      cv_.wait(lock, [this]() { return !free_chunks_.empty() || Ending(); });
      if (free_chunks_.empty()) break;
      c = free_chunks_.back();
      free_chunks_.pop_back();
    }
    c->len = 0;
    c->err = 0;
    bool got = false;
    while (!got && !over) {
      pollfd fds[3] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}, {over_fd, POLLIN, 0}};
      if (poll(fds, 3, -1) < 0) {
        if (errno == EINTR) continue;
        c->err = errno;
        got = over = true;
        break;
      }
      if ((fds[1].revents | fds[2].revents) & POLLIN) {
        over = true;
        break;
      }
      if (!(fds[0].revents & (POLLIN | POLLERR))) continue;
      const ssize_t n = recv(fd_, c->data.get(), kDumpRecvSize, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
        c->err = errno;
        got = over = true;
        break;
      }
      c->len = static_cast<int>(n);
      // Attribute walks round lengths up to 4: the bytes past the datagram are zeros.
      std::memset(c->data.get() + n, 0, NLMSG_ALIGNTO);
      got = true;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (got) {
        read_chunks_.push_back(c);
      } else {
        free_chunks_.push_back(c);
      }
      if (over) reading_over_ = true;
    }
    cv_.notify_all();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    reading_over_ = true;
  }
  cv_.notify_all();
}

}  // namespace nfct
