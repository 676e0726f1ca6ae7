// NFLOG: packets logged by `-j NFLOG` / nft `log group N`, received from nfnetlink_log and
// decoded into fixed-layout records (read by lib/nflog/handle.ts).
#pragma once

#include "layout/layouts.h"

#include <napi.h>

#include <cstdint>

namespace nfct {
namespace log {


enum PacketPresent : uint32_t {
#define X(name, value) name = value,
  NFCT_PACKET_PRESENT(X)
#undef X
};

enum PacketWord : uint32_t {
#define X(name, value) name = value,
  NFCT_PACKET_WORD(X)
#undef X
};

class Nflog : public Napi::ObjectWrap<Nflog> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit Nflog(const Napi::CallbackInfo& info);
  ~Nflog() override;

 private:
  static Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value Subscribe(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  int nsfd_ = -1;
  bool closed_ = false;
};

}  // namespace log
}  // namespace nfct
