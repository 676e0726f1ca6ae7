#include "ct/conntrack.h"

#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "addon.h"
#include "ct/aggregate.h"
#include "ct/control.h"
#include "ct/expect.h"
#include "ct/filter.h"
#include "ct/flow.h"
#include "ct/request.h"
#include "errors.h"
#include "netns.h"
#include "nl.h"
#include "stream.h"

namespace nfct {
namespace ct {

namespace {

uint16_t CtMsg(uint8_t type) { return static_cast<uint16_t>(type); }

// The request of get(): the original tuple, and the zone of the entry.
void PutGet(nlmsghdr* nlh, const TupleSpec& t, int64_t /*id*/) {
  PutTuple(nlh, CTA_TUPLE_ORIG, t);
  if (t.zone >= 0) mnl_attr_put_u16(nlh, CTA_ZONE, htons(t.zone));
}

}  // namespace

void Conntrack::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "Conntrack",
                                    {InstanceMethod<&Conntrack::Dump>("dump"),
                                     InstanceMethod<&Conntrack::Get>("get"),
                                     InstanceMethod<&Conntrack::Count>("count"),
                                     InstanceMethod<&Conntrack::CountNow>("countNow"),
                                     InstanceMethod<&Conntrack::Stats>("stats"),
                                     InstanceMethod<&Conntrack::Close>("close"),
                                     InstanceMethod<&Conntrack::Create>("create"),
                                     InstanceMethod<&Conntrack::Delete>("delete"),
                                     InstanceMethod<&Conntrack::Flush>("flush"),
                                     InstanceMethod<&Conntrack::CreateBatch>("createBatch"),
                                     InstanceMethod<&Conntrack::DeleteBatch>("deleteBatch"),
                                     InstanceMethod<&Conntrack::DeleteWhere>("deleteWhere"),
                                     InstanceMethod<&Conntrack::Aggregate>("aggregate"),
                                     InstanceMethod<&Conntrack::ExpectDump>("expectDump"),
                                     InstanceMethod<&Conntrack::ExpectGet>("expectGet"),
                                     InstanceMethod<&Conntrack::ExpectCreate>("expectCreate"),
                                     InstanceMethod<&Conntrack::ExpectDelete>("expectDelete"),
                                     InstanceMethod<&Conntrack::ExpectFlush>("expectFlush"),
                                     InstanceMethod<&Conntrack::Events>("events"),
                                     InstanceMethod<&Conntrack::ExpectEvents>("expectEvents")});
  GetData(env)->conntrack_ctor = Napi::Persistent(ctor);
  exports.Set("Conntrack", ctor);
  exports.Set("openConntrack", Napi::Function::New(env, &Conntrack::Open, "openConntrack"));
  exports.Set("openConntrackNow", Napi::Function::New(env, &Conntrack::OpenNow, "openConntrackNow"));
}

Conntrack::Conntrack(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Conntrack>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    Napi::TypeError::New(info.Env(), "use openConntrack()").ThrowAsJavaScriptException();
    return;
  }
  sock_ = *info[0].As<Napi::External<std::shared_ptr<ControlSocket>>>().Data();
}

// openConntrack(nsPath: string | null): Promise<Conntrack>
Napi::Value Conntrack::Open(const Napi::CallbackInfo& info) { return OpenIn(info, OpMode::kQueued); }

// openConntrackNow(nsPath: string | null): Conntrack, opened on this thread (see async_op.h)
Napi::Value Conntrack::OpenNow(const Napi::CallbackInfo& info) { return OpenIn(info, OpMode::kNow); }

Napi::Value Conntrack::OpenIn(const Napi::CallbackInfo& info, OpMode mode) {
  Napi::Env env = info.Env();
  std::string path;
  if (info.Length() > 0 && info[0].IsString()) path = info[0].As<Napi::String>().Utf8Value();
  // Opens the namespace and the control socket off the JS thread.
  auto sock = std::make_shared<ControlSocket>();
  auto exec = [path, sock](Failure* f) {
    if (!path.empty()) {
      sock->nsfd = OpenNamespace(path, f);
      if (sock->nsfd < 0) return;
    }
    sock->fd = OpenNetlinkIn(sock->nsfd, NETLINK_NETFILTER, f);
  };
  auto done = [sock](Napi::Env e) -> Napi::Value {
    std::shared_ptr<ControlSocket> held = sock;
    return GetData(e)->conntrack_ctor.New({Napi::External<std::shared_ptr<ControlSocket>>::New(e, &held)});
  };
  return RunOp(env, mode, "nfct-open", std::move(exec), std::move(done));
}

// dump(filter, msgType, onBatch, readerOptions): Stream
Napi::Value Conntrack::Dump(const Napi::CallbackInfo& info) {
  return StartFlowStream(info, "dump(filter, msgType, onBatch, options)", true,
                         [&info](const FlowFilter& filter, ReaderOptions* opt) -> std::unique_ptr<Decoder> {
                           const auto type = static_cast<uint8_t>(info[1].As<Napi::Number>().Uint32Value());
                           SetDumpRequests(filter, type, opt);
                           return std::make_unique<FlowDecoder>(filter);
                         });
}

Napi::Value Conntrack::StartFlowStream(const Napi::CallbackInfo& info, const char* usage, bool dump,
                                       const FlowStreamSetup& setup) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[1].IsNumber() || !info[2].IsFunction()) return ThrowTypeError(env, usage);
  FlowFilter filter;
  if (!ParseFilter(info[0], &filter)) return env.Undefined();
  ReaderOptions opt;
  ReadReaderOptions(info[3], &opt);
  std::unique_ptr<Decoder> decoder = setup(filter, &opt);
  if (!ReaderOn(env, dump, &opt)) return env.Undefined();
  return Stream::Start(env, info[2].As<Napi::Function>(), std::move(decoder), std::move(opt), FLOW_WORDS);
}

// get(tuple): Promise<[ArrayBuffer, strings, count]> (count 0: no such entry)
Napi::Value Conntrack::Get(const Napi::CallbackInfo& info) {
  return QueueGet(info, sock_, NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET, PutGet, [](const nlmsghdr* m, Batch* batch) {
    Flow flow;
    if (DecodeFlowMessage(m, &flow)) AppendRecord(flow, batch);
  });
}

// count(): Promise<[entries, maxEntries]> (maxEntries -1 when the kernel does not say)
Napi::Value Conntrack::Count(const Napi::CallbackInfo& info) { return CountIn(info.Env(), OpMode::kQueued); }

// countNow(): [entries, maxEntries], asked on this thread (see async_op.h)
Napi::Value Conntrack::CountNow(const Napi::CallbackInfo& info) { return CountIn(info.Env(), OpMode::kNow); }

Napi::Value Conntrack::CountIn(Napi::Env env, OpMode mode) {
  auto result = std::make_shared<std::pair<double, double>>(-1, -1);
  auto exec = [result](int fd, Failure* f) {
    NlRequest req(NFNL_SUBSYS_CTNETLINK, CtMsg(IPCTNL_MSG_CT_GET_STATS), 0, AF_UNSPEC);
    NlTransact(
        fd, req,
        [&](const nlmsghdr* m) {
          NlForEachAttr(m, sizeof(nfgenmsg), [&](const nlattr* a) {
            if (mnl_attr_get_payload_len(a) < 4) return;
            uint32_t v = ntohl(mnl_attr_get_u32(a));
            if (mnl_attr_get_type(a) == CTA_STATS_GLOBAL_ENTRIES) result->first = v;
            if (mnl_attr_get_type(a) == CTA_STATS_GLOBAL_MAX_ENTRIES) result->second = v;
          });
        },
        f);
  };
  auto done = [result](Napi::Env e) {
    Napi::Array out = Napi::Array::New(e, 2);
    out.Set(0u, Napi::Number::New(e, result->first));
    out.Set(1u, Napi::Number::New(e, result->second));
    return out;
  };
  return QueueControl(env, sock_, exec, done, mode);
}

// stats(expect?): Promise<Array<[cpu, Uint32Array of (type, value) pairs]>>: the connection
// table's per-CPU counters (CTA_STATS_*), or with expect true the expectation table's
// (IPCTNL_MSG_EXP_GET_STATS_CPU: CTA_STATS_EXP_*).
Napi::Value Conntrack::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool expect = info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value();
  using Row = std::pair<uint32_t, std::vector<uint32_t>>;
  auto rows = std::make_shared<std::vector<Row>>();
  auto exec = [rows, expect](int fd, Failure* f) {
    NlRequest req(expect ? NFNL_SUBSYS_CTNETLINK_EXP : NFNL_SUBSYS_CTNETLINK,
                  expect ? CtMsg(IPCTNL_MSG_EXP_GET_STATS_CPU) : CtMsg(IPCTNL_MSG_CT_GET_STATS_CPU), NLM_F_DUMP,
                  AF_UNSPEC);
    NlTransact(
        fd, req,
        [&](const nlmsghdr* m) {
          const auto* nfg = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(m));
          Row row{ntohs(nfg->res_id), {}};
          NlForEachAttr(m, sizeof(nfgenmsg), [&](const nlattr* a) {
            if (mnl_attr_get_payload_len(a) < 4) return;
            row.second.push_back(mnl_attr_get_type(a));
            row.second.push_back(ntohl(mnl_attr_get_u32(a)));
          });
          rows->push_back(std::move(row));
        },
        f);
  };
  auto done = [rows](Napi::Env e) -> Napi::Value {
    Napi::Array out = Napi::Array::New(e, rows->size());
    for (size_t i = 0; i < rows->size(); i++) {
      const Row& r = (*rows)[i];
      Napi::Array pair = Napi::Array::New(e, 2);
      pair.Set(0u, Napi::Number::New(e, r.first));
      Napi::Uint32Array values = Napi::Uint32Array::New(e, r.second.size());
      if (values.IsEmpty()) return Napi::Value();  // the environment is going away
      for (size_t j = 0; j < r.second.size(); j++) values[j] = r.second[j];
      pair.Set(1u, values);
      out.Set(static_cast<uint32_t>(i), pair);
    }
    return out;
  };
  return QueueControl(env, sock_, exec, done);
}

bool Conntrack::ReaderOn(Napi::Env env, bool dump, ReaderOptions* opt) {
  opt->protocol = NETLINK_NETFILTER;
  opt->dump = dump;
  std::lock_guard<std::mutex> lock(sock_->mu);
  if (sock_->fd < 0) {
    Failure f;
    f.set(EBADF, "netlink", "the handle was closed");
    MakeError(env, f).As<Napi::Error>().ThrowAsJavaScriptException();
    return false;
  }
  opt->nsfd = sock_->nsfd >= 0 ? dup(sock_->nsfd) : -1;
  return true;
}

Napi::Value Conntrack::Close(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(sock_->mu);
  sock_->Close();
  return info.Env().Undefined();
}

}  // namespace ct
}  // namespace nfct
