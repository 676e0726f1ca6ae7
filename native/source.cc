// Reader::RunSource: the reader thread's loop for a Source (source.h) instead of a socket.
#include "source.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace nfct {

void Reader::RunSource(Source* src) {
  auto batch = NewBatch();
  Failure fail;
  if (opt_.nsfd >= 0) close(opt_.nsfd);  // a source is opened where the process is
  opt_.nsfd = -1;
  bool done = !src->Open(&fail);
  {
    std::lock_guard<std::mutex> lock(mu_);
    set_up_ = true;
    setup_failure_ = fail;
  }
  cv_.notify_all();

  while (!done && !Ending()) {
    if (!WaitCredit()) break;
    const Source::Step step = src->Read(batch.get(), opt_.max_batch, &fail);
    if (step == Source::Step::kFail || step == Source::Step::kEnd) break;
    const bool some = batch->count > 0 || batch->overruns > 0 || batch->received > 0 || batch->malformed > 0;
    if (batch->count >= opt_.max_batch || (step == Source::Step::kDry && some)) {
      if (!Post(batch)) break;
    }
    if (step != Source::Step::kDry) continue;
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {src->PollFd(), POLLIN, 0}};
    const int pr = poll(fds, src->PollFd() >= 0 ? 2 : 1, src->DryWaitMs());
    if (pr < 0 && errno != EINTR) {
      fail.set(errno, "poll");
      break;
    }
    if (Ending()) break;
    src->Woken();
  }

  if (!stop_.load()) {
    batch->final = true;
    if (!fail.failed()) src->Finish(batch.get(), &fail);
    batch->failure = fail;
    Post(batch);
  }
  src->Close();
  tsfn_.Release();
}

}  // namespace nfct
