// The process's C heap back to the system: malloc_trim(0), for src/input/after-burst.ts. After a burst of big
// frames glibc keeps the pages that freed buffers leave (measured: 187 MiB resident with 41 MiB of V8 heap after
// a hostile storm); Node has no way to ask for them back. Called once after such a burst, never periodically
// (every second cost throughput; docs/benchmarks.md).
#include <node_api.h>
#include <v8.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace {

napi_value Trim(napi_env env, napi_callback_info) {
  int released = 0;
#if defined(__GLIBC__)
  released = malloc_trim(0);
#endif
  napi_value ret;
  napi_get_boolean(env, released != 0, &ret);
  return ret;
}

// V8's heap back: LowMemoryNotification collects everything it can and releases the pages it keeps for reuse
// (measured: a heap of 59 MiB committed with 16 MiB in use after a full collection; gc() alone keeps the rest).
napi_value Reduce(napi_env env, napi_callback_info) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate != nullptr) isolate->LowMemoryNotification();
  napi_value ret;
  napi_get_boolean(env, isolate != nullptr, &ret);
  return ret;
}

}  // namespace

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "trim", NAPI_AUTO_LENGTH, Trim, nullptr, &fn);
  napi_set_named_property(env, exports, "trim", fn);
  napi_create_function(env, "reduce", NAPI_AUTO_LENGTH, Reduce, nullptr, &fn);
  napi_set_named_property(env, exports, "reduce", fn);
  return exports;
}
