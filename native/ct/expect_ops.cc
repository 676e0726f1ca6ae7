// The expectation table: dump, get, create, delete, flush.
#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "ct/control.h"
#include "ct/conntrack.h"
#include "ct/expect.h"
#include "stream.h"

namespace nfct {
namespace ct {

namespace {

void PutExpectTarget(nlmsghdr* nlh, const TupleSpec& t, int64_t id) {
  PutTuple(nlh, CTA_EXPECT_TUPLE, t);
  if (t.zone >= 0) mnl_attr_put_u16(nlh, CTA_EXPECT_ZONE, htons(static_cast<uint16_t>(t.zone)));
  if (id >= 0) mnl_attr_put_u32(nlh, CTA_EXPECT_ID, htonl(static_cast<uint32_t>(id)));
}

}  // namespace

// expectDump(family, onBatch): Stream of expectation records
Napi::Value Conntrack::ExpectDump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[1].IsFunction()) return ThrowTypeError(env, "expectDump(family, onBatch)");
  const uint8_t family = static_cast<uint8_t>(info[0].As<Napi::Number>().Uint32Value());
  ReaderOptions opt;
  if (!ReaderOn(env, true, &opt)) return env.Undefined();
  NlRequest req(NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_GET, NLM_F_DUMP, family);
  const auto* p = static_cast<const uint8_t*>(req.data());
  opt.requests.emplace_back(p, p + req.size());
  return Stream::Start(env, info[1].As<Napi::Function>(), std::make_unique<ExpectDecoder>(), std::move(opt),
                       EXPECT_WORDS);
}

// expectGet(tuple): Promise<[ArrayBuffer, strings, count]>
Napi::Value Conntrack::ExpectGet(const Napi::CallbackInfo& info) {
  return QueueGet(info, sock_, NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_GET, PutExpectTarget,
                  [](const nlmsghdr* m, Batch* batch) {
                    Expect e;
                    if (!DecodeExpectMessage(m, &e)) return;
                    batch->words.insert(batch->words.end(), e.w, e.w + EXPECT_WORDS);
                    AppendExpectStrings(e, &batch->strings);
                    batch->count++;
                  });
}

// expectCreate(spec): Promise<void>
Napi::Value Conntrack::ExpectCreate(const Napi::CallbackInfo& info) {
  ExpectSpec spec;
  if (info.Length() < 1 || !ParseExpectSpec(info[0], &spec)) return info.Env().Undefined();
  return QueueRequest(info.Env(), sock_, [spec]() {
    NlRequest req(NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_NEW, NLM_F_CREATE | NLM_F_EXCL, spec.tuple.family);
    PutExpectSpec(req.header(), spec);
    return req;
  });
}

// expectDelete(tuple, id): Promise<void>
Napi::Value Conntrack::ExpectDelete(const Napi::CallbackInfo& info) {
  return QueueDelete(info, sock_, NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_DELETE, PutExpectTarget);
}

// expectFlush(family, helper): Promise<void>; helper '' flushes every expectation
Napi::Value Conntrack::ExpectFlush(const Napi::CallbackInfo& info) {
  const uint8_t family = static_cast<uint8_t>(info[0].As<Napi::Number>().Uint32Value());
  std::string helper = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  return QueueRequest(info.Env(), sock_, [family, helper]() {
    NlRequest req(NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_DELETE, 0, family);
    req.set_version(1);
    if (!helper.empty()) mnl_attr_put_strz(req.header(), CTA_EXPECT_HELP_NAME, helper.c_str());
    return req;
  });
}

}  // namespace ct
}  // namespace nfct
