{
  "targets": [
    {
      "target_name": "transcode",
      "sources": ["src/native/transcode.cc"],
      "cflags_cc": ["-O3", "-ffp-contract=off"]
    }
  ]
}
