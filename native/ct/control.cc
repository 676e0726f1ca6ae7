#include "ct/control.h"

#include <linux/netfilter/nfnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nfct {
namespace ct {

ControlSocket::~ControlSocket() { Close(); }

void ControlSocket::Close() {
  if (fd >= 0) close(fd);
  if (nsfd >= 0) close(nsfd);
  fd = -1;
  nsfd = -1;
}

// Appends one decoded flow to a batch: its words, then its strings.
void AppendRecord(const Flow& flow, Batch* batch) {
  batch->words.insert(batch->words.end(), flow.w, flow.w + FLOW_WORDS);
  AppendFlowStrings(flow, &batch->strings);
  batch->count++;
}

Napi::Value RecordsToJs(Napi::Env env, const Batch& b) {
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, b.words.size() * sizeof(uint32_t));
  if (ab.IsEmpty()) return Napi::Value();  // the environment is going away (see async_op.h)
  if (!b.words.empty()) memcpy(ab.Data(), b.words.data(), b.words.size() * sizeof(uint32_t));
  napi_value str;
  napi_create_string_latin1(env, b.strings.data(), b.strings.size(), &str);
  Napi::Array out = Napi::Array::New(env, 3);
  out.Set(0u, ab);
  out.Set(1u, Napi::Value(env, str));
  out.Set(2u, Napi::Number::New(env, b.count));
  return out;
}

namespace {
std::vector<uint8_t> Bytes(const NlRequest& r) {
  const auto* p = static_cast<const uint8_t*>(r.data());
  return std::vector<uint8_t>(p, p + r.size());
}
}  // namespace

void SetDumpRequests(const FlowFilter& filter, uint8_t msg_type, ReaderOptions* opt) {
  std::vector<uint8_t> families;
  if (!filter.kernel) families = {0};
  else if (filter.family == 0 && filter.l4proto >= 0) families = {AF_INET, AF_INET6};
  else families = {filter.family};
  for (uint8_t family : families) {
    FlowFilter f = filter;
    if (filter.kernel) f.family = family;
    NlRequest req(NFNL_SUBSYS_CTNETLINK, msg_type, NLM_F_DUMP, family);
    const bool filtered = AddKernelFilter(f, &req);
    opt->requests.push_back(Bytes(req));
    opt->fallbacks.push_back(filtered ? Bytes(NlRequest(NFNL_SUBSYS_CTNETLINK, msg_type, NLM_F_DUMP, family))
                                      : std::vector<uint8_t>());
  }
}

void FlowDecoder::OnMessage(const nlmsghdr* nlh, Batch* batch) {
  if (!DecodeFlowMessage(nlh, &flow_)) {
    batch->malformed++;
    return;
  }
  if (!Matches(filter_, flow_)) return;
  Stamp(&flow_);
  AppendRecord(flow_, batch);
}

Napi::Value QueueControl(Napi::Env env, std::shared_ptr<ControlSocket> sock, ControlExec exec, ControlDone done,
                         OpMode mode) {
  auto run = [sock = std::move(sock), exec = std::move(exec)](Failure* f) {
    std::lock_guard<std::mutex> lock(sock->mu);
    if (sock->fd < 0) {
      f->set(EBADF, "netlink", "the handle was closed");
      return;
    }
    exec(sock->fd, f);
  };
  return RunOp(env, mode, "nfct-control", std::move(run), std::move(done));
}

Napi::Value QueueRequest(Napi::Env env, std::shared_ptr<ControlSocket> sock, std::function<NlRequest()> make) {
  auto exec = [make = std::move(make)](int fd, Failure* f) {
    NlRequest req = make();
    NlTransact(
        fd, req, [](const nlmsghdr*) {}, f);
  };
  return QueueControl(env, std::move(sock), exec, [](Napi::Env e) { return e.Undefined(); });
}

Napi::Value QueueDelete(const Napi::CallbackInfo& info, std::shared_ptr<ControlSocket> sock, uint8_t subsys,
                        uint8_t msg, PutTarget put) {
  TupleSpec t;
  if (info.Length() < 2 || !ParseTuple(info[0], &t)) return info.Env().Undefined();
  const int64_t id = info[1].As<Napi::Number>().Int64Value();
  return QueueRequest(info.Env(), std::move(sock), [t, id, subsys, msg, put]() {
    NlRequest req(subsys, msg, 0, t.family);
    put(req.header(), t, id);
    return req;
  });
}

Napi::Value QueueGet(const Napi::CallbackInfo& info, std::shared_ptr<ControlSocket> sock, uint8_t subsys, uint8_t msg,
                     PutTarget put, std::function<void(const nlmsghdr*, Batch*)> append) {
  TupleSpec t;
  if (info.Length() < 1 || !ParseTuple(info[0], &t)) return info.Env().Undefined();
  auto batch = std::make_shared<Batch>();
  auto exec = [t, batch, subsys, msg, put, append = std::move(append)](int fd, Failure* f) {
    NlRequest req(subsys, msg, 0, t.family);
    put(req.header(), t, -1);
    Failure local;
    NlTransact(
        fd, req, [&](const nlmsghdr* m) { append(m, batch.get()); }, &local);
    if (local.failed() && local.err != ENOENT) *f = local;
  };
  return QueueControl(info.Env(), std::move(sock), exec, [batch](Napi::Env e) { return RecordsToJs(e, *batch); });
}

}  // namespace ct
}  // namespace nfct
