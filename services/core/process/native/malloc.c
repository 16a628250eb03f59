/*
 * glibc's malloc_trim and mallinfo2 for the node's processes (services/core/process/src/malloc.ts).
 *
 * Memory freed inside glibc's heaps (V8's compiler zones on its background threads, HTTP/2 and
 * TLS buffers, a pool worker's isolate) stays resident: free() gives pages back only from the top
 * of a heap, and Node has no call for the rest. malloc_trim(0) walks every arena and returns each
 * whole free page inside it (madvise MADV_DONTNEED), which is what a process wants once it goes
 * quiet after a burst of work (issue 11: every process back within 20% of its idle memory).
 *
 * N-API only (ABI-stable): built once, loaded by any Node from 18 on.
 */
#include <malloc.h>
#include <node_api.h>

/* trim(): true when glibc gave memory back to the kernel. */
static napi_value trim (napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  napi_get_boolean(env, malloc_trim(0) != 0, &result);
  return result;
}

static void set_number (napi_env env, napi_value obj, const char *name, size_t value) {
  napi_value v;
  napi_create_double(env, (double)value, &v);
  napi_set_named_property(env, obj, name, v);
}

/* info(): glibc's own account of its heaps, in bytes (mallinfo2, every arena summed). */
static napi_value info (napi_env env, napi_callback_info cbinfo) {
  (void)cbinfo;
  struct mallinfo2 m = mallinfo2();
  napi_value obj;
  napi_create_object(env, &obj);
  set_number(env, obj, "heapBytes", m.arena);       /* obtained with sbrk/heap mappings */
  set_number(env, obj, "mmapBytes", m.hblkhd);      /* chunks in their own mappings */
  set_number(env, obj, "inUseBytes", m.uordblks);   /* handed out and not freed */
  set_number(env, obj, "freeBytes", m.fordblks);    /* freed, still held by glibc */
  set_number(env, obj, "topFreeBytes", m.keepcost); /* of those, at the top of the main heap */
  return obj;
}

NAPI_MODULE_INIT () {
  napi_value fn;
  napi_create_function(env, "trim", NAPI_AUTO_LENGTH, trim, NULL, &fn);
  napi_set_named_property(env, exports, "trim", fn);
  napi_create_function(env, "info", NAPI_AUTO_LENGTH, info, NULL, &fn);
  napi_set_named_property(env, exports, "info", fn);
  return exports;
}
