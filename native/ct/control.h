// Shared by the conntrack operations: the control socket, the worker that runs one exchange
// on it off the JS thread, and the plumbing that hands decoded flows to JS.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>
#include <mutex>

#include "async_op.h"
#include "ct/filter.h"
#include "ct/flow.h"
#include "ct/request.h"
#include "errors.h"
#include "reader.h"

namespace nfct {
namespace ct {

// Shared by the handle and the workers running on it, so close() can run at any time.
struct ControlSocket {
  std::mutex mu;  // one exchange at a time on the socket
  int fd = -1;
  int nsfd = -1;  // -1: the process's own namespace
  ~ControlSocket();
  void Close();
};

using ControlExec = std::function<void(int fd, Failure* f)>;
using ControlDone = OpDone;

// Runs exec on the control socket on libuv's pool (short exchanges only), one at a time, then
// resolves the returned promise with done() or rejects it with the failure (see async_op.h).
// With OpMode::kNow, on this thread: returns done()'s value or throws the failure.
Napi::Value QueueControl(Napi::Env env, std::shared_ptr<ControlSocket> sock, ControlExec exec, ControlDone done,
                         OpMode mode = OpMode::kQueued);

// Sends the one request make() builds (on the worker) and resolves undefined on its ACK:
// creates, deletes and flushes.
Napi::Value QueueRequest(Napi::Env env, std::shared_ptr<ControlSocket> sock, std::function<NlRequest()> make);

// Puts the tuple of an entry (or an expectation) and its id (-1: any) into a request.
using PutTarget = void (*)(nlmsghdr* nlh, const TupleSpec& t, int64_t id);

// delete(tuple, id) and expectDelete(tuple, id): one `msg` request of `subsys` naming them.
Napi::Value QueueDelete(const Napi::CallbackInfo& info, std::shared_ptr<ControlSocket> sock, uint8_t subsys,
                        uint8_t msg, PutTarget put);

// get(tuple) and expectGet(tuple): one `msg` request of `subsys` naming the tuple (put, id -1),
// answered by at most one record that `append` adds to the batch. Resolves the records as
// RecordsToJs gives them; no such entry is an empty answer, not an error.
Napi::Value QueueGet(const Napi::CallbackInfo& info, std::shared_ptr<ControlSocket> sock, uint8_t subsys, uint8_t msg,
                     PutTarget put, std::function<void(const nlmsghdr*, Batch*)> append);

// Sets the dump requests of a reader for a filter: the kernel-side part of the filter in each
// request, with a plain fallback. A protocol filter without a family becomes one dump per
// family, since the kernel applies a tuple filter only within one.
void SetDumpRequests(const FlowFilter& filter, uint8_t msg_type, ReaderOptions* opt);

// Appends one decoded flow to a batch: its words, then its strings.
void AppendRecord(const Flow& flow, Batch* batch);

// [ArrayBuffer of records, strings, count], as lib/conntrack/flow.ts decodes them.
Napi::Value RecordsToJs(Napi::Env env, const Batch& b);

// Decodes dump or event messages into flow records, keeping those that match.
class FlowDecoder : public Decoder {
 public:
  explicit FlowDecoder(const FlowFilter& filter) : filter_(filter) {}
  void OnMessage(const nlmsghdr* nlh, Batch* batch) override;

 protected:
  // Called on each matching flow before it is appended (events stamp their receive time).
  virtual void Stamp(Flow* /*flow*/) {}

 private:
  FlowFilter filter_;
  Flow flow_;
};

}  // namespace ct
}  // namespace nfct
