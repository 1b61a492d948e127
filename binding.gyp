{
  "targets": [
    {
      "target_name": "transcode",
      "sources": ["src/native/transcode.cc"],
      "cflags_cc": ["-O3", "-ffp-contract=off"]
    },
    {
      "target_name": "memory",
      "sources": ["src/native/memory.cc"]
    }
  ]
}
