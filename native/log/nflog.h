// NFLOG: packets logged by `-j NFLOG` / nft `log group N`, received from nfnetlink_log and
// decoded into fixed-layout records (read by lib/nflog/handle.ts).
#pragma once

#include "layout/layouts.h"

#include <napi.h>

#include <cstdint>

namespace nfct {
namespace log {

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
