{
  "targets": [
    {
      "target_name": "phase_malloc",
      "sources": ["native/malloc.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
