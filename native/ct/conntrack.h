// The native conntrack handle: a control socket for request/response work (get, count,
// statistics), and one new socket per dump, opened inside the handle's namespace.
#pragma once

#include <napi.h>

#include <memory>
#include <mutex>

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

class Conntrack : public Napi::ObjectWrap<Conntrack> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit Conntrack(const Napi::CallbackInfo& info);

 private:
  static Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value Dump(const Napi::CallbackInfo& info);
  Napi::Value Get(const Napi::CallbackInfo& info);
  Napi::Value Count(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  std::shared_ptr<ControlSocket> sock_;
};

}  // namespace ct
}  // namespace nfct
