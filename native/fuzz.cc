// decodeForTest(kind, bytes): runs one of the decoders that read kernel messages on arbitrary
// bytes taken as one netlink message, for the fuzz tests: they must never crash, hang or read
// out of bounds, whatever the bytes. Returns [records, strings, count, malformed].
#include <linux/netlink.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ct/control.h"
#include "ct/expect.h"
#include "reader.h"

namespace nfct {

std::unique_ptr<Decoder> MakePacketDecoderForTest();  // log/nflog.cc
std::unique_ptr<Decoder> MakeTraceDecoderForTest();   // trace/nftrace.cc

Napi::Value DecodeForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsBuffer())
    return ThrowTypeError(env, "decodeForTest(kind, buffer)");
  const std::string kind = info[0].As<Napi::String>().Utf8Value();
  auto buf = info[1].As<Napi::Buffer<uint8_t>>();
  std::unique_ptr<Decoder> decoder;
  if (kind == "flow") decoder = std::make_unique<ct::FlowDecoder>(ct::FlowFilter());
  else if (kind == "expect") decoder = std::make_unique<ct::ExpectDecoder>();
  else if (kind == "packet") decoder = MakePacketDecoderForTest();
  else if (kind == "trace") decoder = MakeTraceDecoderForTest();
  else {
    ThrowTypeError(env, "decodeForTest: kind is flow, expect, packet or trace");
    return env.Undefined();
  }
  // The reader hands decoders only messages that mnl_nlmsg_ok() accepts: so does this.
  // Padded to whole attribute alignment, as the reader's receive buffer always is.
  std::vector<uint8_t> copy(buf.Data(), buf.Data() + buf.Length());
  copy.resize(NLMSG_ALIGN(copy.size()), 0);
  Batch batch;
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(copy.data());
  if (copy.size() >= sizeof(nlmsghdr) && nlh->nlmsg_len >= sizeof(nlmsghdr) && nlh->nlmsg_len <= copy.size()) {
    decoder->OnMessage(nlh, &batch);
  }
  Napi::Array out = ct::RecordsToJs(env, batch).As<Napi::Array>();
  out.Set(3u, Napi::Number::New(env, batch.malformed));
  return out;
}

}  // namespace nfct
