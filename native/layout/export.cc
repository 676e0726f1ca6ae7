#include "layout/export.h"

#include "layout/layouts.h"

namespace nfct {

void ExportLayouts(Napi::Env env, Napi::Object exports) {
  Napi::Object layouts = Napi::Object::New(env);
#define FIELD(name, value) o.Set(#name, Napi::Number::New(env, static_cast<double>(static_cast<uint32_t>(value))));
#define LAYOUT(type, list)                   \
  {                                          \
    Napi::Object o = Napi::Object::New(env); \
    list(FIELD) layouts.Set(#type, o);       \
  }
  NFCT_LAYOUTS(LAYOUT)
#undef LAYOUT
#undef FIELD
  exports.Set("layouts", layouts);
}

}  // namespace nfct
