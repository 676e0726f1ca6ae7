// Names held in a network namespace's abstract unix socket space: how a process shows, to any
// other process working on that namespace, that something it put there (a temporary trace
// table) is still its own. The kernel frees the name when the holder's socket closes, which
// happens however the holder ends (SIGKILL, the OOM killer), and a name is judged the same way
// from any PID namespace, whatever pids were reused. The socket is made on a helper thread that
// entered the namespace: abstract names belong to the namespace the socket was created in.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "addon.h"
#include "async_op.h"
#include "errors.h"
#include "netns.h"

namespace nfct {

namespace {

// Binds "\0name" in the namespace (ns empty: the process's own). Returns the socket's fd (bound),
// or -1 with *f set (EADDRINUSE: another socket holds the name).
int BindName(const std::string& ns, const std::string& name, Failure* f) {
  int fd = -1;
  RunInNamespace(ns, f, [&]() {
    const int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0) {
      f->set(errno, "socket", "AF_UNIX");
      return;
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path + 1, name.data(), name.size());
    const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    if (bind(s, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
      f->set(errno, "bind", "@" + name);
      close(s);
      return;
    }
    fd = s;
  });
  return fd;
}

}  // namespace

// ownerLock(nsPath | null, name, hold): Promise<number>
//   hold true: binds the name and resolves the socket's fd: the name is held until the fd is
//     closed (or the process ends); rejects with EADDRINUSE when another socket holds it.
//   hold false: resolves 1 when another socket holds the name, 0 when none does (the name is
//     bound and let go at once).
Napi::Value OwnerLock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[1].IsString() || !info[2].IsBoolean())
    return ThrowTypeError(env, "ownerLock(nsPath, name, hold)");
  const std::string ns = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  const std::string name = info[1].As<Napi::String>().Utf8Value();
  const bool hold = info[2].As<Napi::Boolean>().Value();
  if (name.empty() || name.size() > sizeof(sockaddr_un::sun_path) - 1) {
    Napi::RangeError::New(env, "ownerLock(): name must be 1 to 107 bytes").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto result = std::make_shared<int>(0);
  auto exec = [ns, name, hold, result](Failure* f) {
    Failure bound;
    const int fd = BindName(ns, name, &bound);
    if (hold) {
      if (fd < 0) *f = bound;
      *result = fd;
      return;
    }
    if (fd >= 0) {
      close(fd);
      *result = 0;
    } else if (bound.err == EADDRINUSE) {
      *result = 1;
    } else {
      *f = bound;
    }
  };
  auto done = [result](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, *result); };
  return QueueOp(env, "nfct-owner-lock", std::move(exec), std::move(done));
}

}  // namespace nfct
