/*
 * glibc's malloc_trim(0) for the proxy (proxy/src/memory/): glibc keeps memory a process freed in its arenas
 * and gives back only what sits at an arena's top, so a burst of writes or a large transfer leaves a Node
 * process tens of MB above what it uses. malloc_trim returns every free page of every arena to the system.
 * Node-API, so one build serves every Node version. Elsewhere than glibc, trim() does nothing.
 */
#include <node_api.h>
#include <stdbool.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

/* trim(): true when memory went back to the system. */
static napi_value trim(napi_env env, napi_callback_info info) {
  (void)info;
  bool released = false;
#if defined(__GLIBC__)
  released = malloc_trim(0) != 0;
#endif
  napi_value result = NULL;
  napi_get_boolean(env, released, &result);
  return result;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn = NULL;
  if (napi_create_function(env, "trim", NAPI_AUTO_LENGTH, trim, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "trim", fn) != napi_ok) return NULL;
  return exports;
}
