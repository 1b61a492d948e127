// A fuzz harness for the C++ transcoder (src/native/transcode.cc), built and run by scripts/fuzz-native.sh under
// AddressSanitizer + UndefinedBehaviorSanitizer. The addon's source is included whole, so the anonymous
// namespace's Machine is reachable; the N-API glue is compiled but never called (linked -no-pie with unresolved
// symbols ignored).
//
// It drives Machine::Run the way src/decode/native.ts does (at most three attempts: NEED_TIME, NEED_ROOM, the
// line), with every buffer heap-allocated at exactly its size so that ASan sees any overrun, and checks:
// - a line is [pos, result) of the slab, valid UTF-8, one JSON object starting {"message": and ending }\n;
// - the slab before `pos` and the state outside its request bytes [8, 16) are left as they were;
// - NEED_ROOM asks for exactly the line's length, NEED_TIME for an integral second, and both are then met;
// - the same input gives the same line again (no state leaks from record to record);
// - the seeds' lines equal the fixtures' (the general path's);
// - no input makes a line far longer than its frame and scratch allow (a memo bomb must decline);
// - every input finishes quickly (a watchdog aborts a hang and saves the input), and the memory the machine
//   keeps between records stays bounded.
//
// Usage: fuzz-native CORPUS OUTDIR SECONDS SEED [MAX_ITERATIONS]. Exit status 1 when anything was found;
// sanitizer reports abort at once and the input being run is saved to OUTDIR/crash.bin first.
#include "../src/native/transcode.cc"

#include <malloc.h>
#include <sanitizer/common_interface_defs.h>
#ifdef __SANITIZE_ADDRESS__
extern "C" size_t __sanitizer_get_current_allocated_bytes();  // ASan's live heap bytes (no header in GCC 12)
#endif
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace fuzz {

using namespace std::string_literals;
using Bytes = std::vector<uint8_t>;

constexpr size_t MIB = 1024 * 1024;
constexpr size_t BIG_SCRATCH = 8 * MIB;  // the server's default --max-entry is 16 MiB; 8 MiB is transcode.ts's default
constexpr size_t MAX_FRAME = 8 * MIB;    // the server's default --max-frame
constexpr size_t ROOM_CAP = 256 * MIB;   // a NEED_ROOM past this is not met (and is an amplification finding)

// ---- Randomness: splitmix64, reproducible from the seed. ----
struct Rng {
  uint64_t s;
  uint64_t Next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  size_t Below(size_t n) { return n == 0 ? 0 : Next() % n; }
  bool OneIn(size_t n) { return Below(n) == 0; }
  uint8_t Byte() { return static_cast<uint8_t>(Next()); }
};

// ---- Findings: printed, saved to OUTDIR, counted; the exit status says whether there were any. ----
std::string g_outDir = ".";
int g_findings = 0;
const Bytes* g_current = nullptr;  // the input being run, for the crash and hang handlers

std::string Hex(const uint8_t* p, size_t n, size_t limit) {
  static const char D[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n && i < limit; i++) {
    s += D[p[i] >> 4];
    s += D[p[i] & 15];
  }
  if (n > limit) s += "... (" + std::to_string(n) + " bytes)";
  return s;
}

// Async-signal-safe: a sanitizer's death callback or the watchdog's signal handler runs it.
void SaveRaw(const char* path, const Bytes* b) {
  const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || b == nullptr) return;
  size_t done = 0;
  while (done < b->size()) {
    const ssize_t w = write(fd, b->data() + done, b->size() - done);
    if (w <= 0) break;
    done += static_cast<size_t>(w);
  }
  close(fd);
}

std::vector<std::pair<std::string, int>> g_kinds;  // findings by kind, for the summary

void Finding(const std::string& kind, const Bytes& input, const std::string& detail) {
  g_findings++;
  int* count = nullptr;
  for (auto& k : g_kinds)
    if (k.first == kind) count = &k.second;
  if (count == nullptr) {
    g_kinds.emplace_back(kind, 0);
    count = &g_kinds.back().second;
  }
  if (++*count > 3) return;  // the first few of a kind say enough
  std::fflush(stdout);
  const std::string path = g_outDir + "/finding-" + kind + "-" + std::to_string(*count) + ".bin";
  SaveRaw(path.c_str(), &input);
  std::fprintf(stderr, "FINDING %s: %s\n  input (%zu bytes, saved to %s): %s\n", kind.c_str(), detail.c_str(),
               input.size(), path.c_str(), Hex(input.data(), input.size(), 160).c_str());
}

// A sanitizer report is about to end the process: keep the input that caused it.
void OnDeath() {
  static char path[4096];
  std::snprintf(path, sizeof path, "%s/crash.bin", g_outDir.c_str());
  SaveRaw(path, g_current);
  static const char msg[] = "fuzz-native: the input being run is saved as crash.bin in the output directory\n";
  (void)!write(2, msg, sizeof msg - 1);
}

// The watchdog: when no call finished for WATCHDOG_TICKS ticks, the current one hangs.
volatile sig_atomic_t g_progress = 0;
constexpr int WATCHDOG_SECONDS = 10;
constexpr int WATCHDOG_TICKS = 3;

void OnTick(int) {
  static sig_atomic_t last = -1;
  static int still = 0;
  if (g_progress != last) {
    last = g_progress;
    still = 0;
    return;
  }
  if (++still < WATCHDOG_TICKS) return;
  static const char msg[] = "FINDING hang: one call ran for 30 s or more; the input is saved as hang.bin\n";
  (void)!write(2, msg, sizeof msg - 1);
  static char path[4096];
  std::snprintf(path, sizeof path, "%s/hang.bin", g_outDir.c_str());
  SaveRaw(path, g_current);
  _exit(3);
}

// ---- Checks of a line: UTF-8 (decoded here, independently of ValidUtf8) and JSON syntax. ----
bool Utf8(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    const uint8_t c = p[i];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80) { i++; continue; }
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return false;
    if (n - i < len) return false;
    for (size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = cp << 6 | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// RFC 8259 syntax, recursively (the transcoder's lines are at most 100 deep; this stops at 200).
class Json {
 public:
  Json(const uint8_t* p, const uint8_t* e) : p_(p), e_(e) {}
  bool Object() {  // the whole text: one object, nothing after it
    Ws();
    if (p_ == e_ || *p_ != '{') return false;
    return Value(0) && (Ws(), p_ == e_);
  }

 private:
  const uint8_t* p_;
  const uint8_t* e_;

  void Ws() {
    while (p_ < e_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) p_++;
  }
  bool Eat(char c) {
    Ws();
    if (p_ < e_ && *p_ == c) {
      p_++;
      return true;
    }
    return false;
  }
  bool Word(const char* w) {
    const size_t n = std::strlen(w);
    if (static_cast<size_t>(e_ - p_) < n || std::memcmp(p_, w, n) != 0) return false;
    p_ += n;
    return true;
  }
  bool Digits() {
    const uint8_t* s = p_;
    while (p_ < e_ && *p_ >= '0' && *p_ <= '9') p_++;
    return p_ > s;
  }
  bool Number() {
    if (p_ < e_ && *p_ == '-') p_++;
    if (p_ < e_ && *p_ == '0') p_++;
    else if (!(p_ < e_ && *p_ >= '1' && *p_ <= '9') || !Digits()) return false;
    if (p_ < e_ && *p_ == '.' && (++p_, !Digits())) return false;
    if (p_ < e_ && (*p_ == 'e' || *p_ == 'E')) {
      p_++;
      if (p_ < e_ && (*p_ == '+' || *p_ == '-')) p_++;
      if (!Digits()) return false;
    }
    return true;
  }
  bool String() {
    if (!Eat('"')) return false;
    while (p_ < e_) {
      const uint8_t c = *p_++;
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c != '\\') continue;
      if (p_ == e_) return false;
      const uint8_t x = *p_++;
      if (x == 'u') {
        for (int i = 0; i < 4; i++, p_++)
          if (p_ == e_ || !std::isxdigit(*p_)) return false;
      } else if (!std::strchr("\"\\/bfnrt", x) || x == 0) {
        return false;
      }
    }
    return false;
  }
  bool Value(int depth) {
    if (depth > 200) return false;
    Ws();
    if (p_ == e_) return false;
    switch (*p_) {
      case '{':
        p_++;
        if (Eat('}')) return true;
        do {
          if (!String() || !Eat(':') || !Value(depth + 1)) return false;
        } while (Eat(','));
        return Eat('}');
      case '[':
        p_++;
        if (Eat(']')) return true;
        do {
          if (!Value(depth + 1)) return false;
        } while (Eat(','));
        return Eat(']');
      case '"': return String();
      case 't': return Word("true");
      case 'f': return Word("false");
      case 'n': return Word("null");
      default: return Number();
    }
  }
};

// ---- The caller: native.ts's loop, with every buffer exactly sized. ----

// "YYYY-MM-DD HH:MM:SS." for a second, in UTC (secondPrefix in src/format/time.ts; the fixtures' lines are UTC).
std::string SecondPrefix(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds);
  int64_t days = s / 86400, rem = s % 86400;
  if (rem < 0) rem += 86400, days--;
  // civil_from_days (H. Hinnant): proleptic Gregorian, good for every second the transcoder accepts.
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld %02lld:%02lld:%02lld.", static_cast<long long>(y),
                static_cast<long long>(m), static_cast<long long>(d), static_cast<long long>(rem / 3600),
                static_cast<long long>(rem / 60 % 60), static_cast<long long>(rem % 60));
  return buf;
}

// A heap buffer of exactly `n` bytes (never a larger one: ASan must see the first byte past the end).
struct Exact {
  uint8_t* p;
  size_t n;
  explicit Exact(size_t size) : p(new uint8_t[size]), n(size) {}
  ~Exact() { delete[] p; }
  Exact(const Exact&) = delete;
  Exact& operator=(const Exact&) = delete;
};

struct CallOptions {
  size_t outLen = 0;          // the slab's first size
  size_t pos = 0;             // where the line starts in it (<= outLen)
  size_t maxScratch = BIG_SCRATCH;
  size_t roomSlack = 0;       // bytes past `need` when the slab is grown for NEED_ROOM (0: exactly enough)
  bool randomPrefix = false;  // a prefix of random length 0..47 instead of the real one
};

enum Outcome { LINE, DECLINED, EXHAUSTED, TOO_BIG };

struct Stats {
  uint64_t iterations = 0;
  uint64_t calls = 0;
  uint64_t callLine = 0, callDecline = 0, callNeedRoom = 0, callNeedTime = 0;
  uint64_t outLine = 0, outDeclined = 0, outExhausted = 0, outTooBig = 0;
  uint64_t bytesIn = 0, bytesOut = 0;
  size_t longestLine = 0;
};

constexpr uint8_t CANARY = 0xA5;

// The first byte of [p, p + n) that is not CANARY, or null.
const uint8_t* Changed(const uint8_t* p, size_t n) {
  static const Bytes canary(64 * 1024, CANARY);
  for (size_t i = 0; i < n; i += canary.size()) {
    const size_t len = std::min(canary.size(), n - i);
    if (std::memcmp(p + i, canary.data(), len) == 0) continue;
    for (size_t k = i; k < i + len; k++)
      if (p[k] != CANARY) return p + k;
  }
  return nullptr;
}

class Caller {
 public:
  Stats stats;

  Caller() : state_(STATE_SIZE) { ResetState(); }

  // As native.ts makes it: the cached second NaN, no prefix.
  void ResetState() {
    std::memset(state_.p, 0, STATE_SIZE);
    const double nan = NAN;
    std::memcpy(state_.p, &nan, 8);
  }

  // Runs `input` as native.ts would. On LINE, *line is [pos, end) of the final slab.
  Outcome Transcode(const Bytes& input, const CallOptions& o, Rng& rng, std::string* line, size_t* needOut) {
    g_current = &input;
    Exact in(input.size());
    if (!input.empty()) std::memcpy(in.p, input.data(), input.size());
    size_t outLen = o.outLen, pos = std::min(o.pos, o.outLen);
    double need = -1;
    bool timeGiven = false, roomGiven = false;
    for (int attempt = 0; attempt < 3; attempt++) {
      Exact out(outLen);
      // The slab before pos holds earlier lines: they must survive.
      std::memset(out.p, CANARY, pos);
      uint8_t before[STATE_SIZE];
      std::memcpy(before, state_.p, STATE_SIZE);
      const int32_t r = machine_.Run(in.p, in.n, out.p, out.n, pos, state_.p, o.maxScratch);
      g_progress = g_progress + 1;
      stats.calls++;
      if (const uint8_t* changed = Changed(out.p, pos))
        Finding("slab-before-pos", input, "the slab before pos " + std::to_string(pos) + " was written at " +
                                              std::to_string(changed - out.p));
      if (std::memcmp(before, state_.p, 8) != 0 || std::memcmp(before + 16, state_.p + 16, STATE_SIZE - 16) != 0)
        Finding("state-written", input, "Run wrote the state outside its request bytes [8, 16)");
      if (r >= 0) {
        stats.callLine++;
        if (!CheckLine(input, out.p, out.n, pos, r, roomGiven ? need : -1, o.maxScratch)) {
          stats.outDeclined++;  // counted somewhere; the finding is what matters
          return DECLINED;
        }
        if (line != nullptr) line->assign(reinterpret_cast<const char*>(out.p) + pos, static_cast<size_t>(r) - pos);
        stats.bytesOut += static_cast<size_t>(r) - pos;
        stats.longestLine = std::max(stats.longestLine, static_cast<size_t>(r) - pos);
        return LINE;
      }
      double request;
      std::memcpy(&request, state_.p + 8, 8);
      if (r == NEED_TIME) {
        stats.callNeedTime++;
        double cached;
        std::memcpy(&cached, state_.p, 8);
        if (timeGiven || !(request == std::trunc(request)) || request <= MIN_CREATED - 1 ||
            request >= MAX_CREATED + 1 || request == cached)
          Finding("need-time", input, "NEED_TIME for second " + std::to_string(request) +
                                          (timeGiven ? " after the prefix was given" : ""));
        timeGiven = true;
        std::string prefix = SecondPrefix(request);
        if (o.randomPrefix) {
          prefix.assign(rng.Below(PREFIX_MAX + 1), ' ');
          for (char& c : prefix) c = static_cast<char>(0x20 + rng.Below(0x5f));
          for (char& c : prefix) if (c == '"' || c == '\\') c = '_';  // JSON-plain, as a real prefix is
        }
        state_.p[16] = static_cast<uint8_t>(prefix.size());
        std::memcpy(state_.p + 17, prefix.data(), prefix.size());
        std::memcpy(state_.p, &request, 8);
      } else if (r == NEED_ROOM) {
        stats.callNeedRoom++;
        if (roomGiven || !(request == std::trunc(request)) || request <= 0 || pos + request <= outLen)
          Finding("need-room", input, "NEED_ROOM for " + std::to_string(request) + " bytes at pos " +
                                          std::to_string(pos) + " of " + std::to_string(outLen));
        if (needOut != nullptr) *needOut = static_cast<size_t>(request);
        CheckSize(input, request, o.maxScratch);
        if (request > ROOM_CAP) {
          stats.outTooBig++;
          return TOO_BIG;
        }
        roomGiven = true;
        need = request;
        outLen = pos + static_cast<size_t>(need) + o.roomSlack;
      } else {
        stats.callDecline++;
        if (r != DECLINE) Finding("bad-return", input, "Run returned " + std::to_string(r));
        stats.outDeclined++;
        return DECLINED;
      }
    }
    // native.ts declines here; the machine asked for more than one second or room twice.
    Finding("exhausted", input, "three attempts without a line or a decline");
    stats.outExhausted++;
    return EXHAUSTED;
  }

  // A line's length is bounded by what it is made of: each str of the frame (msg twice) and the scratch text
  // (msg twice), plus the names and punctuation of at most 512 pairs. Longer means memo references multiplied
  // a value: the memo bomb that maxScratch exists to stop.
  void CheckSize(const Bytes& input, double length, size_t maxScratch) {
    const double bound = 4.0 * (static_cast<double>(input.size()) + static_cast<double>(maxScratch)) + 8192;
    if (length > bound)
      Finding("amplification", input, "a line of " + std::to_string(static_cast<uint64_t>(length)) +
                                          " bytes from a frame of " + std::to_string(input.size()) +
                                          " bytes with maxScratch " + std::to_string(maxScratch));
  }

 private:
  Machine machine_;  // one for every call, as the addon keeps one per thread
  Exact state_;

  // False when the line is not inside the slab. That check is not redundant with ASan: GCC's -O1 drops the
  // check of the final '\n' store in Assemble (its sanopt pass takes it for checked), so a line one byte too
  // long for the slab shows only here.
  bool CheckLine(const Bytes& input, const uint8_t* out, size_t outLen, size_t pos, int32_t r, double need,
                 size_t maxScratch) {
    const size_t end = static_cast<size_t>(r);
    if (end < pos || end > outLen) {
      Finding("line-range", input, "line end " + std::to_string(r) + " outside [" + std::to_string(pos) + ", " +
                                       std::to_string(outLen) + "]");
      return false;
    }
    const uint8_t* p = out + pos;
    const size_t n = end - pos;
    if (need < 0) CheckSize(input, static_cast<double>(n), maxScratch);  // else checked at NEED_ROOM
    static const char HEAD_TEXT[] = "{\"message\":";
    if (need >= 0 && static_cast<double>(n) != need)
      Finding("need-room-length", input, "NEED_ROOM asked for " + std::to_string(need) + " bytes, the line has " +
                                             std::to_string(n));
    if (n < sizeof HEAD_TEXT + 1 || std::memcmp(p, HEAD_TEXT, sizeof HEAD_TEXT - 1) != 0 || p[n - 2] != '}' ||
        p[n - 1] != '\n')
      Finding("line-shape", input, "line is not {\"message\":...}\\n: " + Hex(p, n, 256));
    else if (!Utf8(p, n))
      Finding("line-utf8", input, "line is not UTF-8: " + Hex(p, n, 256));
    else if (std::memchr(p, '\n', n - 1) != nullptr || !Json(p, p + n - 1).Object())
      Finding("line-json", input, "line is not one JSON object: " +
                                      std::string(reinterpret_cast<const char*>(p), std::min<size_t>(n, 400)));
    return true;
  }
};

// ---- Inputs ----
struct Seed {
  Bytes pickle;
  std::string line;  // the general path's line, or empty (a refused case)
};

std::vector<Seed> LoadCorpus(const char* path) {
  std::vector<Seed> seeds;
  FILE* f = std::fopen(path, "rb");
  if (f == nullptr) {
    std::perror(path);
    std::exit(2);
  }
  auto u32 = [f](uint32_t* v) {
    uint8_t b[4];
    if (std::fread(b, 1, 4, f) != 4) return false;
    *v = ReadU32LE(b);
    return true;
  };
  uint32_t n, m;
  while (u32(&n)) {
    Seed s;
    s.pickle.resize(n);
    if (std::fread(s.pickle.data(), 1, n, f) != n || !u32(&m)) break;
    s.line.resize(m);
    if (std::fread(&s.line[0], 1, m, f) != m) break;
    seeds.push_back(std::move(s));
  }
  std::fclose(f);
  return seeds;
}

void PutU32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; i++) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void PutF64BE(Bytes& b, uint64_t bits) {
  for (int i = 7; i >= 0; i--) b.push_back(static_cast<uint8_t>(bits >> (8 * i)));
}

uint64_t Bits(double d) {
  uint64_t u;
  std::memcpy(&u, &d, 8);
  return u;
}

// Float bit patterns at the edges: NaNs, infinities, zeros, subnormals, and seconds at the ends of the range.
uint64_t InterestingFloat(Rng& r) {
  static const uint64_t F[] = {
      0x7ff8000000000000ull, 0xfff8000000000000ull, 0x7ff0000000000001ull, 0x7fffffffffffffffull,
      0x7ff0000000000000ull, 0xfff0000000000000ull, 0, 0x8000000000000000ull, 1, 0x000fffffffffffffull,
      0x8000000000000001ull, 0x0010000000000000ull, 0x7fefffffffffffffull, 0xffefffffffffffffull};
  switch (r.Below(4)) {
    case 0: return F[r.Below(sizeof F / sizeof F[0])];
    case 1: {
      static const double D[] = {1e16, 9999999999999998.0, 1e-5, 1e-4, 0.0001234, 123456789012345680.0,
                                 -62135596800.0, -62135596801.0, -62135596799.5, 253402300799.9999995,
                                 253402300800.0, 1695651604.0005, 1695651604.9999995, 1695651604.0000005,
                                 0.5e-6, 1.5e-6, 2.5e-6, -0.5e-6, -1e-7, 0.1, 1.0 / 3};
      return Bits(D[r.Below(sizeof D / sizeof D[0])]);
    }
    case 2: return Bits(1.7e9 + static_cast<double>(r.Below(1u << 30)) / 1024.0);
    default: return r.Next();
  }
}

// Text for a str: plain ASCII, the formatter's own keys, escapes, UTF-8 of every length, and invalid UTF-8.
void PutText(Rng& r, Bytes& b, size_t len) {
  static const char* OWN[] = {"msg", "created", "levelname", "message", "created_human", "args", "name"};
  if (r.OneIn(4)) {
    const char* k = OWN[r.Below(7)];
    b.insert(b.end(), k, k + std::strlen(k));
    return;
  }
  static const char* PIECES[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\xc2\x80",
                                 "\xe2\x80\xa8", "\xef\xbb\xbf", "\x7f", "\"", "\\", "\n", "\x01", "\x1f", "\t",
                                 "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80", "\xe2\x82", "\xff",
                                 "\xf0\x9f\x98", "\xe0\x80\xaf", "\xf8\x88\x80\x80\x80"};
  const size_t mode = r.Below(4);
  for (size_t i = 0; i < len; i++) {
    if (mode == 0) b.push_back(static_cast<uint8_t>('a' + r.Below(26)));
    else if (mode == 1 || r.OneIn(2)) b.push_back(static_cast<uint8_t>(0x20 + r.Below(0x5f)));
    else {
      // Valid pieces mostly; the last eight of PIECES are invalid UTF-8.
      const char* s = PIECES[r.OneIn(6) ? r.Below(23) : r.Below(15)];
      b.insert(b.end(), s, s + std::strlen(s));
    }
  }
}

// A valid-looking record pickle (protocol 2..5): a dict of str keys to scalars, containers and memo
// references, built with both SETITEM and SETITEMS. Mutation then breaks it in a thousand ways.
class RecordGen {
 public:
  RecordGen(Rng& r, Bytes& b) : r_(r), b_(b), limit_(r.OneIn(16) ? 256 * 1024 : 4096) {}

  void Record() {
    b_.push_back(0x80);
    b_.push_back(static_cast<uint8_t>(2 + r_.Below(4)));
    if (r_.OneIn(3)) {  // FRAME with its length, as protocol 4 writes it
      b_.push_back(0x95);
      for (int i = 0; i < 8; i++) b_.push_back(i == 0 ? static_cast<uint8_t>(r_.Below(256)) : 0);
    }
    b_.push_back('}');
    Memo();
    const size_t pairs = r_.OneIn(20) ? r_.Below(600) : r_.Below(24);
    bool createdDone = false;
    bool batched = r_.OneIn(2);
    if (batched) b_.push_back('(');
    for (size_t i = 0; i < pairs; i++) {
      if (b_.size() > limit_ && createdDone) break;
      if (!createdDone && (r_.OneIn(4) || i + 1 == pairs)) {
        Key("created");
        if (r_.OneIn(8)) Value(0);
        else {
          b_.push_back('G');
          const double now = 1.7e9 + static_cast<double>(r_.Below(1u << 30)) / 1024.0;
          PutF64BE(b_, r_.OneIn(4) ? InterestingFloat(r_) : Bits(now));
        }
        createdDone = true;
      } else {
        Key(nullptr);
        Value(0);
      }
      if (!batched) b_.push_back('s');
      else if (r_.OneIn(8)) {  // a batch ends, another starts
        b_.push_back('u');
        b_.push_back('(');
      }
    }
    if (batched) b_.push_back('u');
    b_.push_back('.');
  }

 private:
  Rng& r_;
  Bytes& b_;
  size_t limit_;  // a soft bound on the pickle's size: small inputs run many more times a second
  std::vector<uint32_t> slots_;
  uint32_t nextSlot_ = 0;
  int containers_ = 0;

  void Memo() {
    if (!r_.OneIn(3)) return;
    if (r_.OneIn(4)) {
      b_.push_back(0x94);  // MEMOIZE
    } else if (nextSlot_ < 256 && r_.OneIn(2)) {
      b_.push_back('q');
      b_.push_back(static_cast<uint8_t>(nextSlot_));
    } else {
      b_.push_back('r');
      PutU32(b_, nextSlot_);
    }
    slots_.push_back(nextSlot_++);
  }

  void Str(const char* fixed) {
    Bytes t;
    if (fixed != nullptr) t.assign(fixed, fixed + std::strlen(fixed));
    else PutText(r_, t, r_.OneIn(32) ? r_.Below(3000) : r_.Below(24));
    if (t.size() < 256 && r_.OneIn(2)) {
      b_.push_back(0x8c);
      b_.push_back(static_cast<uint8_t>(t.size()));
    } else {
      b_.push_back('X');
      PutU32(b_, static_cast<uint32_t>(t.size()));
    }
    b_.insert(b_.end(), t.begin(), t.end());
    Memo();
  }

  void Key(const char* fixed) {
    if (fixed == nullptr && r_.OneIn(4)) {
      static const char* OWN[] = {"msg", "levelname", "message", "created_human", "args"};
      fixed = OWN[r_.Below(5)];
    }
    if (!slots_.empty() && r_.OneIn(10)) Get();  // a repeated (or non-str) key by reference
    else Str(fixed);
  }

  void Get() {
    const uint32_t slot = slots_[r_.Below(slots_.size())];
    if (slot < 256 && r_.OneIn(2)) {
      b_.push_back('h');
      b_.push_back(static_cast<uint8_t>(slot));
    } else {
      b_.push_back('j');
      PutU32(b_, slot);
    }
  }

  void Value(int depth) {
    const size_t pick = r_.Below(depth > 6 || containers_ > 200 || b_.size() > limit_ ? 10 : 15);
    switch (pick) {
      case 0: Str(nullptr); return;
      case 1: b_.push_back('N'); return;
      case 2: b_.push_back(r_.OneIn(2) ? 0x88 : 0x89); return;
      case 3: b_.push_back('K'); b_.push_back(r_.Byte()); return;
      case 4: b_.push_back('M'); b_.push_back(r_.Byte()); b_.push_back(r_.Byte()); return;
      case 5: b_.push_back('J'); PutU32(b_, static_cast<uint32_t>(r_.Next())); return;
      case 6: b_.push_back('G'); PutF64BE(b_, InterestingFloat(r_)); return;
      case 7: {  // LONG1 of 0..9 bytes
        const size_t len = r_.Below(10);
        b_.push_back(0x8a);
        b_.push_back(static_cast<uint8_t>(len));
        for (size_t i = 0; i < len; i++) b_.push_back(r_.Byte());
        return;
      }
      case 8: {  // I/L text ints, True/False as I01/I00
        static const char* T[] = {"I01\n", "I00\n", "I0\n", "I-0\n", "I123\n", "I-45\n", "L99999999999999999999L\n",
                                  "L-1L\n", "L0L\n", "I007\n", "I+1\n", "I\n", "L\n", "LL\n", "I1 \n"};
        const char* t = T[r_.Below(15)];
        b_.insert(b_.end(), t, t + std::strlen(t));
        return;
      }
      case 9:
        if (!slots_.empty()) Get();  // may be a container still being filled: a cycle
        else b_.push_back(')');
        return;
      default: break;
    }
    containers_++;
    const size_t items = r_.OneIn(10) ? r_.Below(200) : r_.Below(5);
    switch (pick) {
      case 10:  // list by APPENDS
      case 11:  // list by APPEND
        b_.push_back(r_.OneIn(8) ? 0x8f : ']');
        Memo();
        if (pick == 10) b_.push_back('(');
        for (size_t i = 0; i < items && b_.size() <= limit_; i++) {
          Value(depth + 1);
          if (pick == 11) b_.push_back('a');
        }
        if (pick == 10) b_.push_back(b_[b_.size() - 1] == 0x8f ? 0x90 : 'e');
        return;
      case 12: {  // tuple: TUPLE1-3 when short, else MARK ... TUPLE (or FROZENSET)
        const size_t k = items % 4;
        if (k > 0 && r_.OneIn(2)) {
          for (size_t i = 0; i < k; i++) Value(depth + 1);
          b_.push_back(static_cast<uint8_t>(0x84 + k));
        } else {
          b_.push_back('(');
          for (size_t i = 0; i < items && b_.size() <= limit_; i++) Value(depth + 1);
          b_.push_back(r_.OneIn(6) ? 0x91 : 't');
        }
        Memo();
        return;
      }
      default:  // dict
        b_.push_back('}');
        Memo();
        b_.push_back('(');
        for (size_t i = 0; i < items && b_.size() <= limit_; i++) {
          Key(nullptr);
          Value(depth + 1);
        }
        b_.push_back('u');
        return;
    }
  }
};

// One opcode with random (often hostile) arguments.
void PutOpcode(Rng& r, Bytes& b, const Bytes& cur) {
  static const uint32_t U32[] = {0, 1, 7, 8, 255, 256, 65535, 65536, 65537, 0x7fffffff, 0x80000000, 0xffffffff,
                                 0xfffffffe, 1u << 24};
  auto u32 = [&]() -> uint32_t {
    if (r.OneIn(3)) return U32[r.Below(sizeof U32 / sizeof U32[0])];
    if (r.OneIn(2)) return static_cast<uint32_t>(cur.size() - std::min(cur.size(), r.Below(16)));
    return static_cast<uint32_t>(r.Below(70000));
  };
  switch (r.Below(26)) {
    case 0: b.push_back('X'); PutU32(b, u32()); break;
    case 1: {  // a BINUNICODE with a matching length and real text
      Bytes t;
      PutText(r, t, r.Below(64));
      b.push_back('X');
      PutU32(b, static_cast<uint32_t>(t.size()));
      b.insert(b.end(), t.begin(), t.end());
      break;
    }
    case 2: b.push_back(0x8c); b.push_back(r.Byte()); break;
    case 3: b.push_back('r'); PutU32(b, u32()); break;
    case 4: b.push_back('j'); PutU32(b, u32()); break;
    case 5: b.push_back(r.OneIn(2) ? 'q' : 'h'); b.push_back(static_cast<uint8_t>(r.Below(8))); break;
    case 6: b.insert(b.end(), 1 + r.Below(r.OneIn(8) ? 5000 : 40), '('); break;  // a MARK flood
    case 7: {  // nesting: lists inside lists
      const size_t k = 1 + r.Below(r.OneIn(8) ? 300 : 30);
      b.insert(b.end(), k, ']');
      b.insert(b.end(), k - (r.OneIn(2) ? 0 : 1), 'a');
      break;
    }
    case 8: b.push_back(static_cast<uint8_t>(0x85 + r.Below(3))); break;  // TUPLE1-3, often on a short stack
    case 9: b.push_back(r.OneIn(2) ? 'u' : 'e'); break;                 // SETITEMS/APPENDS, maybe without a mark
    case 10: {  // a memo self-reference: a container that contains itself
      static const std::string C[] = {"]q\x07h\x07" "a"s, "}q\x07(h\x07h\x07u"s, "]q\x07(h\x07" "e"s,
                                      "}q\x07X\x01\x00\x00\x00kh\x07s"s, "]\x94h\x00" "a"s,
                                      "}r\x00\x00\x01\x00j\x00\x00\x01\x00\x85"s};
      const std::string& c = C[r.Below(6)];
      b.insert(b.end(), c.begin(), c.end());
      break;
    }
    case 11: {  // I/L text ints, with and without the newline
      b.push_back(r.OneIn(2) ? 'I' : 'L');
      if (r.OneIn(4)) b.push_back('-');
      const size_t digits = r.OneIn(6) ? r.Below(420) : r.Below(22);
      for (size_t i = 0; i < digits; i++) b.push_back(static_cast<uint8_t>('0' + r.Below(10)));
      if (r.OneIn(3)) b.push_back('L');
      if (!r.OneIn(5)) b.push_back('\n');
      break;
    }
    case 12: {  // LONG1 of 0..255 bytes
      const size_t len = r.Below(256);
      b.push_back(0x8a);
      b.push_back(static_cast<uint8_t>(len < 16 || r.OneIn(2) ? len : r.Below(256)));
      const size_t have = r.OneIn(4) ? r.Below(len + 1) : len;  // sometimes fewer bytes than it says
      for (size_t i = 0; i < have; i++) b.push_back(r.Byte());
      break;
    }
    case 13: b.push_back('G'); PutF64BE(b, InterestingFloat(r)); break;
    case 14: b.push_back(0x95); for (int i = 0; i < 8; i++) b.push_back(r.OneIn(2) ? 0xff : r.Byte()); break;
    case 15: b.push_back(0x80); b.push_back(static_cast<uint8_t>(r.Below(8))); break;
    case 16: b.push_back('K'); b.push_back(r.Byte()); break;
    case 17: b.push_back('M'); b.push_back(r.Byte()); b.push_back(r.Byte()); break;
    case 18: b.push_back('J'); PutU32(b, u32()); break;
    case 19: b.push_back('.'); break;
    case 20: b.push_back(r.OneIn(2) ? 's' : 'a'); break;
    case 21: b.push_back(r.OneIn(2) ? 't' : 0x91); break;
    case 22: b.push_back(0x94); break;
    default: {  // the single-byte opcodes, and some the transcoder does not take
      static const uint8_t OPS[] = {'(', '}', ']', ')', 'N', 0x88, 0x89, 0x8f, 0x90, '.', 'V', 'd', 'p', 'F',
                                    'c', 'R', 0x93, 'B', 'C', 'l', '0', '1', '2', 0x81, 0x92, 0x96, 0x97, 0x98};
      b.push_back(OPS[r.Below(sizeof OPS)]);
    }
  }
}

class Mutator {
 public:
  Mutator(Rng& r, const std::vector<Seed>& seeds) : r_(r), seeds_(seeds) {}

  // Remembers inputs that made a line (a pool that deepens what mutation reaches).
  void Keep(const Bytes& b) {
    if (b.size() > 256 * 1024) return;
    if (pool_.size() < 4096) pool_.push_back(b);
    else pool_[r_.Below(pool_.size())] = b;
  }

  Bytes Next() {
    Bytes b;
    const size_t kind = r_.Below(100);
    if (kind < 4) {  // fully random bytes
      b.resize(r_.OneIn(8) ? r_.Below(4096) : r_.Below(64));
      for (auto& c : b) c = r_.Byte();
      return b;
    }
    if (kind < 10) {  // a random opcode stream, usually inside a record's frame
      if (r_.OneIn(2)) b = {0x80, 4, '}', '('};
      const size_t ops = r_.Below(64);
      for (size_t i = 0; i < ops; i++) PutOpcode(r_, b, b);
      if (r_.OneIn(2)) b.push_back('.');
      return b;
    }
    if (kind < 25) {
      RecordGen(r_, b).Record();
      if (r_.OneIn(2)) return b;  // some as made: these should mostly give lines
    } else if (kind < 45 && !pool_.empty()) {
      b = pool_[r_.Below(pool_.size())];
    } else {
      b = Any();
    }
    const size_t rounds = 1 + r_.Below(r_.OneIn(4) ? 16 : 4);
    for (size_t i = 0; i < rounds; i++) Mutate(b);
    if (b.size() > MAX_FRAME) b.resize(MAX_FRAME);
    return b;
  }

 private:
  Rng& r_;
  const std::vector<Seed>& seeds_;
  std::vector<Bytes> pool_;

  const Bytes& Any() {
    if (!pool_.empty() && r_.OneIn(3)) return pool_[r_.Below(pool_.size())];
    return seeds_[r_.Below(seeds_.size())].pickle;
  }

  void Mutate(Bytes& b) {
    const size_t at = r_.Below(b.size() + 1);
    switch (r_.Below(12)) {
      case 0:  // bit flip
        if (!b.empty()) b[r_.Below(b.size())] ^= static_cast<uint8_t>(1u << r_.Below(8));
        break;
      case 1:  // byte set, often to an opcode or a boundary value
        if (!b.empty()) {
          static const uint8_t V[] = {0, 1, 0x7f, 0x80, 0xff, '(', ')', ']', '}', 'a', 'e', 'u', 's', 't',
                                      '.', 'q', 'h', 'j', 'r', 'X', 0x8c, 0x85, 0x86, 0x87, 0x94, '\n'};
          b[r_.Below(b.size())] = r_.OneIn(2) ? V[r_.Below(sizeof V)] : r_.Byte();
        }
        break;
      case 2:  // truncate
        b.resize(r_.Below(b.size() + 1));
        break;
      case 3: {  // delete a range
        const size_t len = std::min(b.size() - at, r_.Below(32));
        b.erase(b.begin() + at, b.begin() + at + len);
        break;
      }
      case 4: {  // duplicate a range
        if (b.empty()) break;
        const size_t s = r_.Below(b.size());
        const size_t len = std::min(b.size() - s, 1 + r_.Below(64));
        const Bytes piece(b.begin() + s, b.begin() + s + len);
        b.insert(b.begin() + at, piece.begin(), piece.end());
        break;
      }
      case 5: {  // splice in a piece of another input
        const Bytes& o = Any();
        if (o.empty()) break;
        const size_t s = r_.Below(o.size());
        const size_t len = std::min(o.size() - s, 1 + r_.Below(256));
        b.insert(b.begin() + at, o.begin() + s, o.begin() + s + len);
        break;
      }
      case 6: {  // crossover: this one's head, another's tail
        const Bytes& o = Any();
        const size_t s = r_.Below(o.size() + 1);
        b.resize(at);
        b.insert(b.end(), o.begin() + s, o.end());
        break;
      }
      case 7:
      case 8: {  // insert random opcodes with random arguments
        Bytes ops;
        const size_t k = 1 + r_.Below(4);
        for (size_t i = 0; i < k; i++) PutOpcode(r_, ops, b);
        b.insert(b.begin() + at, ops.begin(), ops.end());
        break;
      }
      case 9: {  // rewrite a length or slot: the four bytes after an X/r/j/J, or the byte after 0x8c/q/h/K
        for (int tries = 0; tries < 16 && !b.empty(); tries++) {
          const size_t i = r_.Below(b.size());
          const uint8_t op = b[i];
          if ((op == 'X' || op == 'r' || op == 'j' || op == 'J') && i + 5 <= b.size()) {
            static const uint32_t U[] = {0, 1, 0xffffffff, 0x7fffffff, 0x80000000, 65535, 65536};
            uint32_t v = r_.OneIn(2) ? U[r_.Below(7)] : ReadU32LE(&b[i + 1]) + static_cast<uint32_t>(r_.Below(5)) - 2;
            for (int k = 0; k < 4; k++) b[i + 1 + k] = static_cast<uint8_t>(v >> (8 * k));
            break;
          }
          if ((op == 0x8c || op == 'q' || op == 'h' || op == 'K' || op == 0x8a) && i + 2 <= b.size()) {
            b[i + 1] = r_.OneIn(2) ? static_cast<uint8_t>(b[i + 1] + r_.Below(5) - 2) : r_.Byte();
            break;
          }
        }
        break;
      }
      case 10: {  // a BINFLOAT's bits to a special pattern
        for (int tries = 0; tries < 16 && !b.empty(); tries++) {
          const size_t i = r_.Below(b.size());
          if (b[i] == 'G' && i + 9 <= b.size()) {
            const uint64_t v = InterestingFloat(r_);
            for (int k = 0; k < 8; k++) b[i + 1 + k] = static_cast<uint8_t>(v >> (8 * (7 - k)));
            break;
          }
        }
        break;
      }
      default: {  // insert random bytes
        const size_t k = 1 + r_.Below(8);
        for (size_t i = 0; i < k; i++) b.insert(b.begin() + at, r_.Byte());
        break;
      }
    }
  }
};

CallOptions RandomOptions(Rng& r) {
  CallOptions o;
  switch (r.Below(8)) {
    case 0: case 1: case 2: o.outLen = r.Below(65); break;  // too small: NEED_ROOM
    case 3: case 4: o.outLen = r.Below(1024); break;
    case 5: case 6: o.outLen = r.Below(64 * 1024); break;
    default: o.outLen = 256 * 1024 + r.Below(1024); break;  // room for all but the longest lines
  }
  o.pos = r.OneIn(3) ? 0 : r.Below(o.outLen + 1);
  o.maxScratch = r.OneIn(2) ? r.Below(4097) : BIG_SCRATCH;
  o.roomSlack = r.OneIn(4) ? r.Below(16) : 0;
  o.randomPrefix = r.OneIn(16);
  return o;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The heap in use now, as the allocator counts it (ASan's quarantine is not in it, unlike RSS).
double LiveMiB() {
#ifdef __SANITIZE_ADDRESS__
  return static_cast<double>(__sanitizer_get_current_allocated_bytes()) / MIB;
#else  // FUZZ_PLAIN=1: glibc's count (mmap'd chunks are in hblkhd)
  const struct mallinfo2 m = mallinfo2();
  return static_cast<double>(m.uordblks + m.hblkhd) / MIB;
#endif
}

long MaxRssMiB() {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

// ---- Adversarial frames, built here: each must finish quickly and in bounded memory. ----
Bytes Str(const std::string& s) {
  Bytes b{'X'};
  PutU32(b, static_cast<uint32_t>(s.size()));
  b.insert(b.end(), s.begin(), s.end());
  return b;
}

// A record: {"created": 1695651604.25, "msg": <msg bytes>, <extra pairs>}, as protocol 4 writes it.
Bytes RecordWith(const Bytes& msgValue, const Bytes& extraPairs) {
  Bytes b{0x80, 4, '}', '('};
  Bytes k = Str("created");
  b.insert(b.end(), k.begin(), k.end());
  b.push_back('G');
  PutF64BE(b, Bits(1695651604.25));
  k = Str("msg");
  b.insert(b.end(), k.begin(), k.end());
  b.insert(b.end(), msgValue.begin(), msgValue.end());
  b.insert(b.end(), extraPairs.begin(), extraPairs.end());
  b.push_back('u');
  b.push_back('.');
  return b;
}

struct Adversarial {
  std::string name;
  Bytes frame;
};

std::vector<Adversarial> MakeAdversarial() {
  std::vector<Adversarial> a;
  auto add = [&a](const std::string& name, Bytes b) { a.push_back({name, std::move(b)}); };
  add("5 MB of ] (EMPTY_LIST)", Bytes(5 * MIB, ']'));
  add("5 MB of ( (MARK flood)", Bytes(5 * MIB, '('));
  add("8 MiB of } (EMPTY_DICT)", Bytes(MAX_FRAME, '}'));
  {
    Bytes b{0x80, 4, '}'};
    b.insert(b.end(), 100000, ']');
    b.insert(b.end(), 99999, 'a');
    add("100k nested lists", b);
  }
  {
    Bytes b{0x80, 4, '}'};
    b.push_back(')');
    b.insert(b.end(), 100000, 0x85);
    add("100k nested TUPLE1", b);
  }
  for (size_t depth : {99, 100}) {
    // The record is depth 1: 99 nested lists in it are the deepest a line may hold (maxDepth 100), 100 decline.
    Bytes pair = Str("deep");
    pair.insert(pair.end(), depth, ']');
    pair.insert(pair.end(), depth - 1, 'a');
    add(std::to_string(depth) + " nested lists in a record", RecordWith(Str("m"), pair));
  }
  {
    std::string s(MIB, '\0');
    for (size_t i = 0; i < s.size(); i++) s[i] = static_cast<char>(i % 32);
    add("1 MiB BINUNICODE of control characters as msg", RecordWith(Str(s), {}));
  }
  {
    std::string s(MIB, '"');
    add("1 MiB BINUNICODE of quotes as msg (6 MiB escaped)", RecordWith(Str(s), {}));
  }
  {
    std::string s(7 * MIB, 'x');
    add("7 MiB plain msg (the line holds it twice)", RecordWith(Str(s), {}));
  }
  for (size_t keys : {511, 600}) {
    Bytes extra;
    for (size_t i = 0; i < keys - 2; i++) {
      Bytes k = Str("key" + std::to_string(i));
      extra.insert(extra.end(), k.begin(), k.end());
      extra.push_back('N');
    }
    add("a record of " + std::to_string(keys) + " distinct keys", RecordWith(Str("m"), extra));
  }
  {
    // 510 keys of one length with the same first and last eight bytes: KeyHash gives them all one slot, and
    // each probe compares up to the byte where they differ, just before the last eight.
    const size_t len = 16 * 1024;
    Bytes extra;
    for (size_t i = 0; i < 510; i++) {
      std::string key(len, 'k');
      std::snprintf(&key[len - 16], 9, "%08zu", i);
      key[len - 8] = 'k';
      Bytes k = Str(key);
      extra.insert(extra.end(), k.begin(), k.end());
      extra.push_back('N');
    }
    add("510 colliding 16 KiB keys in the record", RecordWith(Str("m"), extra));
    // The same keys in a nested dict (Finish), then the record.
    Bytes nested{'}', '('};
    nested.insert(nested.end(), extra.begin(), extra.end());
    nested.push_back('u');
    Bytes pair = Str("nested");
    pair.insert(pair.end(), nested.begin(), nested.end());
    add("510 colliding 16 KiB keys in a nested dict", RecordWith(Str("m"), pair));
  }
  {
    // Memo bomb in nested lists: each level holds the one below twice; scratch must stop it.
    Bytes v{'X', 4, 0, 0, 0, 'b', 'o', 'o', 'm', 'r', 0, 0, 0, 0};
    for (uint32_t i = 0; i < 40; i++) {
      v.push_back('(');
      v.push_back('j'); PutU32(v, i);
      v.push_back('j'); PutU32(v, i);
      v.push_back('t');
      v.push_back('r'); PutU32(v, i + 1);
    }
    Bytes pair = Str("bomb");
    pair.insert(pair.end(), v.begin(), v.end());
    add("memo bomb: 40 levels of (x, x)", RecordWith(Str("m"), pair));
  }
  for (size_t strLen : {MIB / 4, 7 * MIB}) {
    // Memo bomb at the top: one str memoized, then 509 keys whose values all reference it. No scratch is used,
    // so maxScratch does not stop it; the line is 509 copies.
    Bytes msg = Str(std::string(strLen, 'z'));
    msg.push_back('r');
    PutU32(msg, 0);
    Bytes extra;
    for (size_t i = 0; i < 509; i++) {
      Bytes k = Str("k" + std::to_string(i));
      extra.insert(extra.end(), k.begin(), k.end());
      extra.push_back('j');
      PutU32(extra, 0);
    }
    add("top-level memo bomb: 509 references to a " + std::to_string(strLen / 1024) + " KiB str",
        RecordWith(msg, extra));
  }
  {
    // Every memo slot set, then MEMOIZE past the last.
    Bytes b{0x80, 4, 'N'};
    for (uint32_t i = 0; i <= MAX_MEMO_SLOT; i++) {
      b.push_back('r');
      PutU32(b, i);
    }
    b.push_back(0x94);
    add("65536 LONG_BINPUTs then MEMOIZE", b);
  }
  {
    // A list of 2.5M references to one str: large items, declined when the list is finished.
    Bytes pair = Str("many");
    pair.push_back(']');
    pair.push_back('(');
    Bytes k{'X', 1, 0, 0, 0, 'v', 'q', 1};
    pair.insert(pair.end(), k.begin(), k.end());
    for (size_t i = 0; i < 2500000; i++) {
      pair.push_back('h');
      pair.push_back(1);
    }
    pair.push_back('e');
    add("a list of 2.5M memo references", RecordWith(Str("m"), pair));
  }
  {
    Bytes pair = Str("floats");
    pair.push_back(']');
    pair.push_back('(');
    for (size_t i = 0; i < 800000; i++) {
      pair.push_back('G');
      PutF64BE(pair, Bits(1.0 / 3 + static_cast<double>(i)));
    }
    pair.push_back('e');
    add("800k floats in a list", RecordWith(Str("m"), pair));
  }
  {
    Bytes pair = Str("ints");
    pair.push_back(']');
    pair.push_back('(');
    for (size_t i = 0; i < 20000; i++) {
      pair.push_back('I');
      pair.insert(pair.end(), 400, '9');
      pair.push_back('\n');
    }
    pair.push_back('e');
    add("20k 400-digit I ints", RecordWith(Str("m"), pair));
  }
  {
    Bytes b{0x80, 4, 'I'};
    b.insert(b.end(), MAX_FRAME - 3, '1');
    add("an I int with no newline in 8 MiB", b);
  }
  {
    Bytes b{0x80, 4};
    for (size_t i = 0; i < 800000; i++) {
      b.push_back('X');
      PutU32(b, 0xffffffffu - static_cast<uint32_t>(i));
    }
    add("X with lengths near 4 GiB", b);
  }
  {
    // A str of 8 MiB of 4-byte UTF-8 with one bad byte at the end (read all, then declined).
    std::string s;
    while (s.size() + 4 < MAX_FRAME - 64) s += "\xf0\x9f\x98\x80";
    s += "\xed\xa0\x80";
    add("8 MiB of UTF-8 ending in a surrogate", RecordWith(Str(s), {}));
  }
  return a;
}

// Records in a row, each filling one container with `items` items under a value id the ones before did not use.
// The machine keeps each id's item vector from record to record; what it keeps must stay bounded, both when
// each record adds many items and when each adds fewer than any "large record" threshold.
void RetentionTest(Caller& c, Rng& rng, size_t records, size_t items) {
  double first = 0;
  const double t0 = Now();
  for (size_t k = 0; k < records; k++) {
    Bytes b{0x80, 4, 'X', 1, 0, 0, 0, 'v', 'q', 0};  // a str in memo slot 0 (value 0)
    b.insert(b.end(), k + 1, ']');                  // values 1..k+1: the last one is new to this record
    b.push_back('(');
    for (size_t i = 0; i < items; i++) {
      b.push_back('h');
      b.push_back(0);
    }
    b.push_back('e');
    b.push_back('.');  // declined: the stack is not one dict
    c.Transcode(b, CallOptions(), rng, nullptr, nullptr);
    if (k == 0) first = LiveMiB();
    if (k + 1 == records) {
      const double growth = LiveMiB() - first;
      std::printf("%zu records of %zu items each on a new value id: heap %.0f MiB after the first, %.0f MiB after "
                  "the last (%.0f ms)\n", records, items, first, LiveMiB(), (Now() - t0) * 1000);
      if (growth > 64)
        Finding("retained-memory", b, "the machine kept " + std::to_string(static_cast<int>(growth)) +
                                          " MiB more after " + std::to_string(records) + " records than after one");
    }
  }
  std::fflush(stdout);
}

int Main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s CORPUS OUTDIR SECONDS SEED [MAX_ITERATIONS]\n", argv[0]);
    return 2;
  }
  g_outDir = argv[2];
  const double seconds = std::atof(argv[3]);
  const uint64_t seed = std::strtoull(argv[4], nullptr, 10);
  const uint64_t maxIterations = argc > 5 ? std::strtoull(argv[5], nullptr, 10) : UINT64_MAX;
#ifdef __SANITIZE_ADDRESS__
  __sanitizer_set_death_callback(OnDeath);
#endif
  signal(SIGALRM, OnTick);
  struct itimerval tick = {{WATCHDOG_SECONDS, 0}, {WATCHDOG_SECONDS, 0}};
  setitimer(ITIMER_REAL, &tick, nullptr);

  const std::vector<Seed> seeds = LoadCorpus(argv[1]);
  std::printf("seed %llu, %zu seeds, %.0f s\n", static_cast<unsigned long long>(seed), seeds.size(), seconds);
  if (seeds.empty()) return 2;
  Rng rng{seed};

  // 1. The seeds as they are: each line must be the fixture's (the general path's), byte for byte.
  {
    Caller c;
    size_t lines = 0, same = 0;
    for (const Seed& s : seeds) {
      CallOptions o;
      std::string line;
      if (c.Transcode(s.pickle, o, rng, &line, nullptr) != LINE) continue;
      lines++;
      if (s.line.empty()) {
        Finding("refused-seed-line", s.pickle, "a refused case gave a line: " + line.substr(0, 300));
      } else if (line != s.line + "\n") {
        Finding("seed-line-differs", s.pickle,
                "expected " + s.line.substr(0, 300) + "\n  got      " + line.substr(0, 300));
      } else {
        same++;
      }
    }
    std::printf("seeds: %zu gave a line (%zu equal to the fixture's), %zu declined\n", lines, same,
                seeds.size() - lines);
  }

  // 2. Adversarial frames, timed, with the slab grown as asked (up to ROOM_CAP).
  {
    Caller c;
    std::printf("%-62s %9s %9s %10s %10s %10s\n", "adversarial frame", "bytes", "outcome", "ms", "max RSS",
                "heap after");
    static const char* NAMES[] = {"line", "declined", "exhausted", "too big"};
    for (const Adversarial& a : MakeAdversarial()) {
      for (size_t maxScratch : {BIG_SCRATCH, static_cast<size_t>(4096)}) {
        CallOptions o;
        o.maxScratch = maxScratch;
        size_t need = 0;
        const double t0 = Now();
        const Outcome out = c.Transcode(a.frame, o, rng, nullptr, &need);
        const double ms = (Now() - t0) * 1000;
        std::string what = NAMES[out];
        if (out == TOO_BIG) what += " (" + std::to_string(need / MIB) + " MiB)";
        std::printf("%-62s %9zu %9s %10.1f %6ld MiB %6.0f MiB  (maxScratch %zu)\n", a.name.c_str(), a.frame.size(),
                    what.c_str(), ms, MaxRssMiB(), LiveMiB(), maxScratch);
        // Generous for ASan: the same frames take a few ms in the -O3 addon.
        if (ms > 3000) Finding("slow", a.frame, a.name + " took " + std::to_string(ms) + " ms");
      }
    }
    std::fflush(stdout);
    RetentionTest(c, rng, 64, 1000000);
    RetentionTest(c, rng, 1024, 60000);
  }

  // 3. Fuzzing: mutated seeds, generated records, opcode soup and random bytes, until the time is up.
  Caller c;
  Mutator mutator(rng, seeds);
  const double start = Now(), end = start + seconds;
  double nextReport = start + 60;
  double slowest = 0;
  while (c.stats.iterations < maxIterations) {
    if ((c.stats.iterations & 255) == 0) {
      const double now = Now();
      if (now >= end) break;
      if (now >= nextReport) {
        std::printf("  %.0f s: %llu iterations, %llu lines\n", now - start,
                    static_cast<unsigned long long>(c.stats.iterations),
                    static_cast<unsigned long long>(c.stats.outLine));
        std::fflush(stdout);
        nextReport += 60;
      }
    }
    c.stats.iterations++;
    const Bytes input = mutator.Next();
    c.stats.bytesIn += input.size();
    if (rng.OneIn(64)) c.ResetState();
    const CallOptions o = RandomOptions(rng);
    std::string line;
    const double t0 = (c.stats.iterations & 15) == 0 || input.size() > 64 * 1024 ? Now() : 0;
    const Outcome out = c.Transcode(input, o, rng, &line, nullptr);
    if (t0 > 0) {
      const double ms = (Now() - t0) * 1000;
      slowest = std::max(slowest, ms);
      if (ms > 3000) Finding("slow", input, "took " + std::to_string(ms) + " ms");
    }
    if (out != LINE) continue;
    c.stats.outLine++;
    mutator.Keep(input);
    // Again, with a roomy slab and the real prefix: the same bytes, or state leaked from an earlier record.
    if (!o.randomPrefix && rng.OneIn(8)) {
      CallOptions again;
      again.outLen = line.size() + 64;
      again.maxScratch = o.maxScratch;
      std::string second;
      const Outcome o2 = c.Transcode(input, again, rng, &second, nullptr);
      if (o2 != LINE || second != line)
        Finding("not-repeatable", input,
                "a second run gave " + (o2 == LINE ? second.substr(0, 300) : std::string("no line")) +
                    "\n  the first: " + line.substr(0, 300));
    }
  }
  const Stats& s = c.stats;
  std::printf("fuzzing: %llu iterations in %.0f s (%llu input bytes), slowest sampled call %.1f ms\n",
              static_cast<unsigned long long>(s.iterations), Now() - start,
              static_cast<unsigned long long>(s.bytesIn), slowest);
  std::printf("  calls to Run: %llu: %llu line, %llu DECLINE, %llu NEED_ROOM, %llu NEED_TIME\n",
              static_cast<unsigned long long>(s.calls), static_cast<unsigned long long>(s.callLine),
              static_cast<unsigned long long>(s.callDecline), static_cast<unsigned long long>(s.callNeedRoom),
              static_cast<unsigned long long>(s.callNeedTime));
  std::printf("  inputs: %llu line, %llu declined, %llu out of attempts, %llu asked for more than %zu MiB; "
              "longest line %zu bytes\n",
              static_cast<unsigned long long>(s.outLine), static_cast<unsigned long long>(s.outDeclined),
              static_cast<unsigned long long>(s.outExhausted), static_cast<unsigned long long>(s.outTooBig),
              ROOM_CAP / MIB, s.longestLine);
  std::printf("max RSS %ld MiB; findings: %d\n", MaxRssMiB(), g_findings);
  for (const auto& k : g_kinds) std::printf("  %s: %d\n", k.first.c_str(), k.second);
  return g_findings > 0 ? 1 : 0;
}

}  // namespace fuzz

int main(int argc, char** argv) { return fuzz::Main(argc, argv); }
