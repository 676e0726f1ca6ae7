#include "async_op.h"

#include <unistd.h>

#include <memory>

namespace nfct {

namespace {

struct Op {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  OpExec exec;
  OpDone done;
  Failure failure;
};

void Execute(napi_env /*env*/, void* data) {
  auto* op = static_cast<Op*>(data);
  op->exec(&op->failure);
}

void Complete(napi_env env, napi_status status, void* data) {
  std::unique_ptr<Op> op(static_cast<Op*>(data));
  napi_delete_async_work(env, op->work);
  // Cancelled, or the environment is being torn down: no JS may run, and nobody is waiting.
  if (status != napi_ok || !CanRunJs(env)) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value value = nullptr;
  bool ok = false;
  if (op->failure.failed()) {
    value = MakeError(env, op->failure);
  } else {
    Napi::Value v = op->done(Napi::Env(env));
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_get_and_clear_last_exception(env, &value);
    } else {
      value = v;
      ok = true;
    }
  }
  if (value == nullptr) napi_get_undefined(env, &value);
  // A failure here means the environment started going away meanwhile: nothing to tell anyone.
  if (ok) napi_resolve_deferred(env, op->deferred, value);
  else napi_reject_deferred(env, op->deferred, value);
  napi_close_handle_scope(env, scope);
}

}  // namespace

bool CanRunJs(napi_env env) {
  // napi calls that may run JS answer napi_pending_exception, without an exception pending,
  // once the environment cannot run JS any more; setting a property on a fresh object is one.
  napi_value obj;
  napi_value key;
  if (napi_create_object(env, &obj) != napi_ok || napi_get_boolean(env, true, &key) != napi_ok) return false;
  return napi_set_named_property(env, obj, "probe", key) == napi_ok;
}

Napi::Value QueueOp(Napi::Env env, const char* name, OpExec exec, OpDone done) {
  auto op = std::make_unique<Op>();
  op->exec = std::move(exec);
  op->done = std::move(done);
  napi_value promise;
  napi_value resource;
  if (napi_create_promise(env, &op->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource) != napi_ok ||
      napi_create_async_work(env, nullptr, resource, Execute, Complete, op.get(), &op->work) != napi_ok) {
    return env.Undefined();
  }
  if (napi_queue_async_work(env, op->work) != napi_ok) {
    napi_delete_async_work(env, op->work);
    return env.Undefined();
  }
  op.release();  // Complete owns it now
  return Napi::Value(env, promise);
}

Napi::Value RunOp(Napi::Env env, OpMode mode, const char* name, OpExec exec, OpDone done) {
  if (mode == OpMode::kQueued) return QueueOp(env, name, std::move(exec), std::move(done));
  Failure failure;
  exec(&failure);
  if (failure.failed()) {
    napi_throw(env, MakeError(env, failure));
    return Napi::Value();
  }
  return done(env);
}

OwnedFd::~OwnedFd() {
  if (fd_ >= 0) close(fd_);
}

void OwnedFd::reset(int fd) {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
}

}  // namespace nfct
