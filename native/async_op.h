// One promise-returning operation off the JS thread: the single pattern every asynchronous
// native call uses (conntrack control exchanges, opening handles, the nf_log backend).
// The same operation can also run now, on the JS thread (RunOp with OpMode::kNow): a call that
// is one short netlink exchange, made where nothing else waits for the thread (nfct -C), is
// then spared the trip to libuv's pool and back, and the start of the pool's threads.
//
// exec runs on libuv's pool and touches only C++ data; done builds the result on the JS thread.
// The environment can start going away while done runs (worker.terminate() comes from another
// thread), so every napi call in done may fail: done checks each value it writes memory through
// (a typed array or ArrayBuffer that failed to be made has no data) and returns an empty value.
// The completion is written against plain napi calls whose status is checked: when the
// environment is going away (its worker_threads Worker is being terminated) nothing is called,
// thrown or resolved, and whatever exec produced is freed by its own destructors.
#pragma once

#include <napi.h>

#include <functional>

#include "errors.h"

namespace nfct {

using OpExec = std::function<void(Failure* f)>;
using OpDone = std::function<Napi::Value(Napi::Env env)>;

// Queues exec; the promise resolves with done() or rejects with the failure exec reported (an
// NfctError) or with what done() threw.
Napi::Value QueueOp(Napi::Env env, const char* name, OpExec exec, OpDone done);

enum class OpMode { kQueued, kNow };

// kQueued: QueueOp. kNow: exec, then done, on this thread; returns done()'s value, or throws
// the failure exec reported (an NfctError) as a JS exception.
Napi::Value RunOp(Napi::Env env, OpMode mode, const char* name, OpExec exec, OpDone done);

// False once the environment can no longer run JavaScript (a worker being terminated).
bool CanRunJs(napi_env env);

// Owns a file descriptor until released: an fd made by exec is closed if done never runs.
class OwnedFd {
 public:
  OwnedFd() = default;
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd();
  void reset(int fd);
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace nfct
