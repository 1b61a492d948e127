// The transcoder in C++: the same machine as src/decode/transcode.ts (read that file first), pickle bytes of a
// record of plain data straight to its JSON line, written into the caller's slab. It declines — returns DECLINE
// and leaves the slab's bytes after `pos` meaningless — on anything outside that shape, and the caller then
// uses the general path. test/differential.test.ts holds its lines byte for byte to the general path's.
//
// Differences from transcode.ts, each only ever a decline where the JS one would go on:
// - a str that is not valid UTF-8, or an int of more than 8 bytes (LONG1), declines;
// - the scratch text of one record is bounded by `maxScratch` exactly (the JS one checks when it grows);
// - a record of more than MAX_VALUES values declines.
//
// Every read is bounds-checked against the frame, every table is bounded; nothing here recurses.
// scripts/fuzz-native.sh runs it under AddressSanitizer and UndefinedBehaviorSanitizer.
#include <node_api.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr int32_t DECLINE = -1;
constexpr int32_t NEED_ROOM = -2;  // the slab is too small: the bytes needed are at state[8..16)
constexpr int32_t NEED_TIME = -3;  // created_human's "YYYY-MM-DD HH:MM:SS." is not cached for state[8..16)'s second

// The state buffer, one per line maker: [0, 8) the cached second (f64), [8, 16) a request (f64),
// [16] the prefix's length, [17, 64) the prefix ("2026-11-25 15:44:00.").
constexpr size_t STATE_SIZE = 64;
constexpr size_t PREFIX_MAX = STATE_SIZE - 17;

// Value kinds, as in transcode.ts.
constexpr uint8_t FRAME_STR = 0;  // a str whose bytes go between quotes as they are: [a, b) of the frame
constexpr uint8_t TEXT = 1;       // JSON text: [a, b) of the scratch buffer
constexpr uint8_t LIST = 2;       // a list/set still being filled
constexpr uint8_t DICT = 3;       // a dict still being filled (pairs in its items)

constexpr int32_t MARK = -1;
constexpr uint32_t MAX_MEMO_SLOT = 65535;
constexpr int MAX_CONTAINER_DEPTH = 99;
constexpr uint32_t KEY_SLOTS = 1024;
// More values than this in one record declines: no log record has them, and it bounds the tables' memory.
constexpr size_t MAX_VALUES = 1 << 20;
constexpr double MIN_CREATED = -62135596800.0 - 1;
constexpr double MAX_CREATED = 253402300800.0;

struct Value {
  uint8_t kind;
  uint8_t isStr;
  uint8_t depth;
  int32_t a;
  int32_t b;
  double num;
};

// A hash of a key for the key set: its length and its first and last eight bytes (equal keys are then told
// apart by comparing them; a dict has at most KEY_SLOTS / 2 keys, which bounds the work of colliding ones).
inline uint32_t KeyHash(const uint8_t* p, size_t len) {
  uint64_t a = 0, b = 0;
  if (len >= 8) {
    std::memcpy(&a, p, 8);
    std::memcpy(&b, p + len - 8, 8);
  } else if (len >= 4) {
    uint32_t x, y;
    std::memcpy(&x, p, 4);
    std::memcpy(&y, p + len - 4, 4);
    a = x | static_cast<uint64_t>(y) << 32;
  } else {
    for (size_t i = 0; i < len; i++) a = a << 8 | p[i];
  }
  uint64_t h = (a ^ (len << 56)) * 0x9E3779B97F4A7C15ull;
  h = (h ^ (h >> 31) ^ b) * 0xC2B2AE3D27D4EB4Full;
  return static_cast<uint32_t>(h >> 32);
}

// memcpy for the short pieces a line is made of (keys, numbers), without a call for each.
inline void CopyBytes(uint8_t* dst, const uint8_t* src, size_t len) {
  if (len <= 16) {
    if (len >= 8) {
      uint64_t x, y;
      std::memcpy(&x, src, 8);
      std::memcpy(&y, src + len - 8, 8);
      std::memcpy(dst, &x, 8);
      std::memcpy(dst + len - 8, &y, 8);
    } else if (len >= 4) {
      uint32_t x, y;
      std::memcpy(&x, src, 4);
      std::memcpy(&y, src + len - 4, 4);
      std::memcpy(dst, &x, 4);
      std::memcpy(dst + len - 4, &y, 4);
    } else {
      for (size_t i = 0; i < len; i++) dst[i] = src[i];
    }
  } else {
    std::memcpy(dst, src, len);
  }
}

enum Own : uint8_t { OWN_NONE = 0, OWN_LEVELNAME = 1, OWN_CREATED = 2, OWN_SKIP = 3, OWN_MSG = 4 };

class Machine {
 public:
  // Returns the new end of the line in `out`, or DECLINE / NEED_ROOM / NEED_TIME.
  int32_t Run(const uint8_t* in, size_t n, uint8_t* out, size_t outLen, size_t pos, uint8_t* state,
              size_t maxScratch);

 private:
  const uint8_t* in_ = nullptr;
  std::vector<Value> values_ = std::vector<Value>(1024);  // [0, nv_) are this record's
  size_t nv_ = 0;
  std::vector<std::vector<int32_t>> items_;  // by value id, kept from record to record (small ones: Trim)
  std::vector<int32_t> opened_;              // the ids the last record opened item lists for
  size_t itemsAdded_ = 0;                    // items put into containers by the last record
  std::vector<int32_t> stack_;
  std::vector<size_t> marks_;
  std::vector<int32_t> memoVal_ = std::vector<int32_t>(MAX_MEMO_SLOT + 1);
  std::vector<uint32_t> memoStamp_ = std::vector<uint32_t>(MAX_MEMO_SLOT + 1);
  uint32_t memoNow_ = 0;
  uint32_t memoSet_ = 0;
  std::vector<uint8_t> scratch_ = std::vector<uint8_t>(64 * 1024);
  size_t sp_ = 0;
  size_t scratchLimit_ = 0;
  uint32_t slotStamp_[KEY_SLOTS] = {};
  int32_t slotKey_[KEY_SLOTS] = {};
  uint32_t stamp_ = 0;
  std::vector<uint8_t> pairOwn_;

  bool Room(size_t k) {
    if (sp_ + k > scratchLimit_) return false;
    if (sp_ + k > scratch_.size()) scratch_.resize(std::max(scratch_.size() * 2, sp_ + k));
    return true;
  }

  int32_t NewValue(uint8_t kind, int32_t a, int32_t b, double num, uint8_t isStr, uint8_t depth) {
    if (nv_ == values_.size()) values_.resize(values_.size() * 2);
    values_[nv_] = Value{kind, isStr, depth, a, b, num};
    return static_cast<int32_t>(nv_++);
  }

  void OpenItems(int32_t id) {
    if (items_.size() <= static_cast<size_t>(id)) items_.resize(id + 1);
    items_[id].clear();
    opened_.push_back(id);
  }

  int32_t TextValue(const char* s, size_t len, double num) {
    if (!Room(len)) return DECLINE;
    const size_t start = sp_;
    std::memcpy(&scratch_[sp_], s, len);
    sp_ += len;
    return NewValue(TEXT, static_cast<int32_t>(start), static_cast<int32_t>(sp_), num, 0, 0);
  }

  int32_t IntValue(int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    return TextValue(buf, r.ptr - buf, static_cast<double>(v));
  }

  int32_t StrValue(size_t s, size_t e);
  int32_t FloatValue(double v);
  int32_t DigitsValue(uint8_t op, size_t s, size_t e);

  void CopyToScratch(int32_t id) {  // the caller made room
    const Value& v = values_[id];
    // A TEXT value is an earlier part of the scratch buffer: the ranges never overlap.
    if (v.kind == FRAME_STR) scratch_[sp_++] = '"';
    CopyBytes(&scratch_[sp_], Bytes(v), v.b - v.a);
    sp_ += v.b - v.a;
    if (v.kind == FRAME_STR) scratch_[sp_++] = '"';
  }

  size_t TextLength(int32_t id) const {
    const Value& v = values_[id];
    return v.b - v.a + (v.kind == FRAME_STR ? 2 : 0);
  }

  const uint8_t* Bytes(const Value& v) const { return v.kind == FRAME_STR ? in_ + v.a : scratch_.data() + v.a; }

  bool SameText(int32_t x, int32_t y) const {
    const Value& vx = values_[x];
    const Value& vy = values_[y];
    if (vx.kind != vy.kind || vx.b - vx.a != vy.b - vy.a) return false;
    return std::memcmp(Bytes(vx), Bytes(vy), vx.b - vx.a) == 0;
  }

  bool NewKeySet(size_t pairs) {
    if (pairs > KEY_SLOTS / 2) return false;
    if (++stamp_ == 0) {
      std::memset(slotStamp_, 0, sizeof slotStamp_);
      stamp_ = 1;
    }
    return true;
  }

  // Adds str value k to the current key set; false if an equal key is there already.
  bool AddKey(int32_t k) {
    const Value& v = values_[k];
    uint32_t slot = KeyHash(Bytes(v), v.b - v.a) & (KEY_SLOTS - 1);
    while (slotStamp_[slot] == stamp_) {
      if (SameText(slotKey_[slot], k)) return false;
      slot = (slot + 1) & (KEY_SLOTS - 1);
    }
    slotStamp_[slot] = stamp_;
    slotKey_[slot] = k;
    return true;
  }

  bool Finish(int32_t id, int32_t top);
  int32_t ArrayValue(size_t from, int32_t top);
  int32_t Assemble(int32_t top, uint8_t* out, size_t outLen, size_t pos, uint8_t* state);

  void Push(int32_t id) { stack_.push_back(id); }

  // Memo slot `slot` (at most MAX_MEMO_SLOT) := the value on top of the stack (not a mark).
  void MemoPut(uint32_t slot) {
    if (memoStamp_[slot] != memoNow_) memoSet_++;
    memoStamp_[slot] = memoNow_;
    memoVal_[slot] = stack_.back();
  }

  // After an unusually large record, gives its memory back instead of keeping it for the next.
  void Trim() {
    constexpr size_t MANY = 1 << 16;
    if (values_.size() > MANY) std::vector<Value>(1024).swap(values_);
    if (items_.size() > MANY || itemsAdded_ > MANY) {
      std::vector<std::vector<int32_t>>().swap(items_);
    } else {
      // Only short item lists are kept: records that each fill a long list under a new id would otherwise
      // keep one each, without end.
      for (const int32_t id : opened_)
        if (items_[id].capacity() > 128) std::vector<int32_t>().swap(items_[id]);
    }
    if (opened_.capacity() > MANY) std::vector<int32_t>().swap(opened_);
    opened_.clear();
    itemsAdded_ = 0;
    if (stack_.capacity() > MANY) std::vector<int32_t>().swap(stack_);
    if (marks_.capacity() > MANY) std::vector<size_t>().swap(marks_);
    if (scratch_.size() > 16 * MANY) std::vector<uint8_t>(64 * 1024).swap(scratch_);
  }
};

// True when [p, p + len) is UTF-8 as the standard defines it (no overlongs, surrogates or values past U+10FFFF):
// what Node's buffer.isUtf8 accepts.
bool ValidUtf8(const uint8_t* p, size_t len) {
  size_t i = 0;
  while (i < len) {
    const uint8_t c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      if (i + 1 >= len || (p[i + 1] & 0xC0) != 0x80) return false;
      i += 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      if (i + 2 >= len) return false;
      const uint8_t c1 = p[i + 1];
      if ((c1 & 0xC0) != 0x80 || (p[i + 2] & 0xC0) != 0x80) return false;
      if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F)) return false;
      i += 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
      if (i + 3 >= len) return false;
      const uint8_t c1 = p[i + 1];
      if ((c1 & 0xC0) != 0x80 || (p[i + 2] & 0xC0) != 0x80 || (p[i + 3] & 0xC0) != 0x80) return false;
      if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F)) return false;
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

constexpr uint64_t ONES = 0x0101010101010101ull;
constexpr uint64_t HIGHS = 0x8080808080808080ull;

// True when none of the bytes needs escaping in JSON (`"`, `\`, below 0x20); *ascii is cleared if any is
// above 0x7f. Eight bytes at a time: a byte is < 0x20, or equal to a given one, where the subtraction borrows.
bool PlainBytes(const uint8_t* p, size_t len, bool* ascii) {
  size_t i = 0;
  uint64_t high = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t x;
    std::memcpy(&x, p + i, 8);
    const uint64_t quote = x ^ (ONES * '"');
    const uint64_t backslash = x ^ (ONES * '\\');
    const uint64_t special = ((x - ONES * 0x20) | (quote - ONES) | (backslash - ONES)) & ~x & HIGHS;
    if (special != 0) return false;
    high |= x;
  }
  for (; i < len; i++) {
    const uint8_t c = p[i];
    if (c < 0x20 || c == '"' || c == '\\') return false;
    high |= c;
  }
  if (high & HIGHS) *ascii = false;
  return true;
}

// A str: a range of the frame when it needs no escaping, else its JSON.stringify text in the scratch buffer.
int32_t Machine::StrValue(size_t s, size_t e) {
  bool ascii = true;
  const bool plain = PlainBytes(in_ + s, e - s, &ascii);
  if (plain) {
    if (!ascii && !ValidUtf8(in_ + s, e - s)) return DECLINE;
    return NewValue(FRAME_STR, static_cast<int32_t>(s), static_cast<int32_t>(e), NAN, 1, 0);
  }
  if (!ValidUtf8(in_ + s, e - s)) return DECLINE;
  if (!Room((e - s) * 6 + 2)) return DECLINE;
  static const char HEX[] = "0123456789abcdef";
  const size_t start = sp_;
  uint8_t* o = scratch_.data();
  o[sp_++] = '"';
  for (size_t i = s; i < e; i++) {
    const uint8_t c = in_[i];
    if (c >= 0x20 && c != '"' && c != '\\') {
      o[sp_++] = c;
      continue;
    }
    o[sp_++] = '\\';
    switch (c) {
      case '"': o[sp_++] = '"'; break;
      case '\\': o[sp_++] = '\\'; break;
      case '\b': o[sp_++] = 'b'; break;
      case '\t': o[sp_++] = 't'; break;
      case '\n': o[sp_++] = 'n'; break;
      case '\f': o[sp_++] = 'f'; break;
      case '\r': o[sp_++] = 'r'; break;
      default:
        o[sp_++] = 'u';
        o[sp_++] = '0';
        o[sp_++] = '0';
        o[sp_++] = HEX[c >> 4];
        o[sp_++] = HEX[c & 15];
    }
  }
  o[sp_++] = '"';
  return NewValue(TEXT, static_cast<int32_t>(start), static_cast<int32_t>(sp_), NAN, 1, 0);
}

// Python's repr of a float (floatRepr in values.ts): the shortest round-trip digits, fixed notation for
// exponents -4..15, else d.ddde±XX; non-finite values as the JSON strings "NaN", "Infinity", "-Infinity".
int32_t Machine::FloatValue(double v) {
  if (std::isnan(v)) return TextValue("\"NaN\"", 5, NAN);
  if (std::isinf(v)) return v > 0 ? TextValue("\"Infinity\"", 10, NAN) : TextValue("\"-Infinity\"", 11, NAN);
  if (v == 0) return std::signbit(v) ? TextValue("-0.0", 4, v) : TextValue("0.0", 3, v);
  char sci[40];
  const auto r = std::to_chars(sci, sci + sizeof sci - 1, v, std::chars_format::scientific);
  *r.ptr = 0;
  const char* p = sci;
  char text[48];
  size_t t = 0;
  if (*p == '-') {
    text[t++] = '-';
    p++;
  }
  char digits[24] = {};
  size_t nd = 0;
  while (*p != 'e' && *p != 0 && nd < sizeof digits) {
    if (*p != '.') digits[nd++] = *p;
    p++;
  }
  if (*p != 'e') return DECLINE;
  const int exponent = std::atoi(p + 1);  // "e+09", "e-05"
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      text[t++] = '0';
      text[t++] = '.';
      for (int i = 0; i < -exponent - 1; i++) text[t++] = '0';
      std::memcpy(text + t, digits, nd);
      t += nd;
    } else {
      const size_t intDigits = exponent + 1;
      if (nd <= intDigits) {
        std::memcpy(text + t, digits, nd);
        t += nd;
        for (size_t i = nd; i < intDigits; i++) text[t++] = '0';
        text[t++] = '.';
        text[t++] = '0';
      } else {
        std::memcpy(text + t, digits, intDigits);
        t += intDigits;
        text[t++] = '.';
        std::memcpy(text + t, digits + intDigits, nd - intDigits);
        t += nd - intDigits;
      }
    }
  } else {
    text[t++] = digits[0];
    if (nd > 1) {
      text[t++] = '.';
      std::memcpy(text + t, digits + 1, nd - 1);
      t += nd - 1;
    }
    text[t++] = 'e';
    text[t++] = exponent < 0 ? '-' : '+';
    const int e = exponent < 0 ? -exponent : exponent;
    if (e < 10) text[t++] = '0';
    const auto er = std::to_chars(text + t, text + sizeof text, e);
    t = er.ptr - text;
  }
  return TextValue(text, t, v);
}

// The text opcodes I and L: decimal digits up to a newline (I01/I00 are True/False).
int32_t Machine::DigitsValue(uint8_t op, size_t s, size_t e) {
  const uint8_t* t = in_ + s;
  size_t len = e - s;
  if (op == 'I' && len == 2 && t[0] == '0' && (t[1] == '1' || t[1] == '0')) {
    return t[1] == '1' ? TextValue("true", 4, NAN) : TextValue("false", 5, NAN);
  }
  if (op == 'L' && len > 0 && t[len - 1] == 'L') len--;
  // /^-?(0|[1-9]\d*)$/, and not "-0"
  size_t i = 0;
  if (i < len && t[i] == '-') i++;
  if (i >= len) return DECLINE;
  if (t[i] == '0') {
    if (i + 1 != len || i == 1) return DECLINE;
  } else {
    for (size_t k = i; k < len; k++)
      if (t[k] < '0' || t[k] > '9') return DECLINE;
  }
  char buf[408];
  std::memcpy(buf, t, len);
  buf[len] = 0;
  return TextValue(buf, len, std::strtod(buf, nullptr));
}

// Makes value id final JSON text (a container is written out, and can no longer change). False: decline.
bool Machine::Finish(int32_t id, int32_t top) {
  const uint8_t kind = values_[id].kind;
  if (kind == FRAME_STR || kind == TEXT) return true;
  if (id == top) return false;  // the record inside itself
  const std::vector<int32_t>& items = items_[id];
  const size_t count = items.size();
  size_t length = 2;
  for (size_t i = 0; i < count; i++) length += TextLength(items[i]) + 1;
  if (!Room(length)) return false;
  const size_t start = sp_;
  int depth = 0;
  if (kind == LIST) {
    scratch_[sp_++] = '[';
    for (size_t i = 0; i < count; i++) {
      if (i > 0) scratch_[sp_++] = ',';
      CopyToScratch(items[i]);
      depth = std::max<int>(depth, values_[items[i]].depth);
    }
    scratch_[sp_++] = ']';
  } else {
    if (!NewKeySet(count / 2)) return false;
    scratch_[sp_++] = '{';
    for (size_t i = 0; i < count; i += 2) {
      const int32_t k = items[i];
      if (values_[k].isStr != 1) return false;  // non-str keys: the general path converts them
      if (!AddKey(k)) return false;             // a repeated key: the general path keeps the last value
      if (i > 0) scratch_[sp_++] = ',';
      CopyToScratch(k);
      scratch_[sp_++] = ':';
      CopyToScratch(items[i + 1]);
      depth = std::max<int>(depth, values_[items[i + 1]].depth);
    }
    scratch_[sp_++] = '}';
  }
  if (depth + 1 > MAX_CONTAINER_DEPTH) return false;
  Value& v = values_[id];
  v.kind = TEXT;
  v.a = static_cast<int32_t>(start);
  v.b = static_cast<int32_t>(sp_);
  v.depth = static_cast<uint8_t>(depth + 1);
  return true;
}

// A tuple/frozenset of the items stack[from, end), which it pops: final at once.
int32_t Machine::ArrayValue(size_t from, int32_t top) {
  for (size_t i = from; i < stack_.size(); i++)
    if (stack_[i] == MARK || !Finish(stack_[i], top)) return DECLINE;
  const int32_t id = NewValue(LIST, 0, 0, NAN, 0, 0);
  OpenItems(id);
  items_[id].assign(stack_.begin() + from, stack_.end());
  itemsAdded_ += stack_.size() - from;
  stack_.resize(from);
  return Finish(id, top) ? id : DECLINE;
}

// Which of the keys the formatter treats specially a top-level key is.
uint8_t OwnKey(const uint8_t* p, size_t len) {
  switch (len) {
    case 3:
      return std::memcmp(p, "msg", 3) == 0 ? OWN_MSG : OWN_NONE;
    case 7:
      if (std::memcmp(p, "created", 7) == 0) return OWN_CREATED;
      return std::memcmp(p, "message", 7) == 0 ? OWN_SKIP : OWN_NONE;
    case 9:
      return std::memcmp(p, "levelname", 9) == 0 ? OWN_LEVELNAME : OWN_NONE;
    case 13:
      return std::memcmp(p, "created_human", 13) == 0 ? OWN_SKIP : OWN_NONE;
    default:
      return OWN_NONE;
  }
}

double RoundHalfEven(double x) {
  const double floor = std::floor(x);
  const double diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return std::fmod(floor, 2) == 0 ? floor : floor + 1;
}

constexpr char HEAD[] = "{\"message\":";
constexpr char LEVELNAME[] = ",\"levelname\":";
constexpr char CREATED[] = ",\"created\":";
constexpr char CREATED_HUMAN[] = ",\"created_human\":\"";

// The line: message, levelname, created, created_human, then the record's keys in order.
int32_t Machine::Assemble(int32_t top, uint8_t* out, size_t outLen, size_t pos, uint8_t* state) {
  const std::vector<int32_t>& items = items_[top];
  const size_t count = items.size();
  if (!NewKeySet(count / 2)) return DECLINE;
  if (pairOwn_.size() < count / 2) pairOwn_.resize(count);
  int32_t msg = -1, levelname = -1, created = -1;
  for (size_t i = 0; i < count; i += 2) {
    const int32_t k = items[i];
    // Top-level keys must be plain str (the general path converts the others) and distinct.
    if (values_[k].kind != FRAME_STR || !AddKey(k)) return DECLINE;
    const uint8_t own = OwnKey(in_ + values_[k].a, values_[k].b - values_[k].a);
    pairOwn_[i / 2] = own;
    if (own == OWN_MSG) msg = items[i + 1];
    else if (own == OWN_LEVELNAME) levelname = items[i + 1];
    else if (own == OWN_CREATED) created = items[i + 1];
  }
  // `created` must be a finite number and `msg` a str; otherwise the general path decides (or refuses).
  if (created < 0 || values_[created].isStr == 1) return DECLINE;
  const double when = values_[created].num;
  if (!(when > MIN_CREATED && when < MAX_CREATED)) return DECLINE;
  if (msg >= 0 && values_[msg].isStr != 1) return DECLINE;

  // created_human (time.ts): microseconds rounded half to even, then the cached "date time." and the millis.
  double seconds = std::trunc(when);
  double micros = RoundHalfEven((when - seconds) * 1e6);
  if (micros >= 1e6) {
    micros -= 1e6;
    seconds += 1;
  } else if (micros < 0) {
    micros += 1e6;
    seconds -= 1;
  }
  double cached;
  std::memcpy(&cached, state, 8);
  if (seconds != cached) {
    std::memcpy(state + 8, &seconds, 8);
    return NEED_TIME;
  }
  const size_t prefixLen = state[16];
  const int millis = static_cast<int>(std::floor(micros / 1000));

  size_t length = sizeof HEAD - 1 + (msg < 0 ? 2 : TextLength(msg)) + sizeof LEVELNAME - 1 +
                  (levelname < 0 ? 4 : TextLength(levelname)) + sizeof CREATED - 1 + TextLength(created) +
                  sizeof CREATED_HUMAN - 1 + prefixLen + 3 + 1 + 2;
  for (size_t i = 0; i < count; i += 2) {
    const uint8_t own = pairOwn_[i / 2];
    if (own != OWN_NONE && own != OWN_MSG) continue;
    length += 4 + TextLength(items[i]) - 2 + TextLength(items[i + 1]);
  }
  // A line past the bound declines (and the general path refuses it as too large): a memo can repeat one big
  // str in every field, and the line would be hundreds of times the frame.
  if (length > scratchLimit_) return DECLINE;
  if (pos + length > outLen) {
    const double need = static_cast<double>(length);
    std::memcpy(state + 8, &need, 8);
    return NEED_ROOM;
  }
  uint8_t* o = out + pos;
  auto put = [&o](const void* p, size_t len) {
    CopyBytes(o, static_cast<const uint8_t*>(p), len);
    o += len;
  };
  auto value = [&](int32_t id) {
    const Value& v = values_[id];
    if (v.kind == FRAME_STR) *o++ = '"';
    put(Bytes(v), v.b - v.a);
    if (v.kind == FRAME_STR) *o++ = '"';
  };
  put(HEAD, sizeof HEAD - 1);
  if (msg < 0) put("\"\"", 2);
  else value(msg);
  put(LEVELNAME, sizeof LEVELNAME - 1);
  if (levelname < 0) put("null", 4);
  else value(levelname);
  put(CREATED, sizeof CREATED - 1);
  value(created);
  put(CREATED_HUMAN, sizeof CREATED_HUMAN - 1);
  put(state + 17, prefixLen);
  *o++ = static_cast<uint8_t>('0' + millis / 100);
  *o++ = static_cast<uint8_t>('0' + millis / 10 % 10);
  *o++ = static_cast<uint8_t>('0' + millis % 10);
  *o++ = '"';
  for (size_t i = 0; i < count; i += 2) {
    const uint8_t own = pairOwn_[i / 2];
    if (own != OWN_NONE && own != OWN_MSG) continue;
    const Value& k = values_[items[i]];
    *o++ = ',';
    *o++ = '"';
    put(in_ + k.a, k.b - k.a);
    *o++ = '"';
    *o++ = ':';
    value(items[i + 1]);
  }
  *o++ = '}';
  *o++ = '\n';
  return static_cast<int32_t>(o - out);
}

uint32_t ReadU32LE(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }

int32_t Machine::Run(const uint8_t* in, size_t n, uint8_t* out, size_t outLen, size_t pos, uint8_t* state,
                     size_t maxScratch) {
  in_ = in;
  Trim();
  nv_ = 0;
  stack_.clear();
  marks_.clear();
  sp_ = 0;
  scratchLimit_ = maxScratch;
  if (++memoNow_ == 0) {
    std::fill(memoStamp_.begin(), memoStamp_.end(), 0);
    memoNow_ = 1;
  }
  memoSet_ = 0;
  if (n > 0x7fffffff) return DECLINE;
  size_t p = 0;
  int32_t top = -1;  // the first dict: the record
  while (p < n) {
    if (nv_ > MAX_VALUES) return DECLINE;
    const uint8_t op = in[p++];
    int32_t id;
    switch (op) {
      case 0x80:  // PROTO
        if (p >= n || in[p] > 5) return DECLINE;
        p++;
        break;
      case 0x95:  // FRAME
        p += 8;
        break;
      case 0x28:  // ( MARK
        marks_.push_back(stack_.size());
        Push(MARK);
        break;
      case 0x7d:  // } EMPTY_DICT
        id = NewValue(DICT, 0, 0, NAN, 0, 0);
        OpenItems(id);
        if (top < 0) top = id;
        Push(id);
        break;
      case 0x5d:  // ] EMPTY_LIST
      case 0x8f:  // EMPTY_SET
        id = NewValue(LIST, 0, 0, NAN, 0, 0);
        OpenItems(id);
        Push(id);
        break;
      case 0x29:  // ) EMPTY_TUPLE
        if ((id = TextValue("[]", 2, NAN)) < 0) return DECLINE;
        Push(id);
        break;
      case 0x4e:  // N
        if ((id = TextValue("null", 4, NAN)) < 0) return DECLINE;
        Push(id);
        break;
      case 0x88:  // NEWTRUE
        if ((id = TextValue("true", 4, NAN)) < 0) return DECLINE;
        Push(id);
        break;
      case 0x89:  // NEWFALSE
        if ((id = TextValue("false", 5, NAN)) < 0) return DECLINE;
        Push(id);
        break;
      case 0x4b:  // K BININT1
        if (p >= n || (id = IntValue(in[p])) < 0) return DECLINE;
        p++;
        Push(id);
        break;
      case 0x4d:  // M BININT2
        if (p + 2 > n || (id = IntValue(in[p] | (in[p + 1] << 8))) < 0) return DECLINE;
        p += 2;
        Push(id);
        break;
      case 0x4a:  // J BININT
        if (p + 4 > n || (id = IntValue(static_cast<int32_t>(ReadU32LE(in + p)))) < 0) return DECLINE;
        p += 4;
        Push(id);
        break;
      case 0x47: {  // G BINFLOAT
        if (p + 8 > n) return DECLINE;
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++) bits = (bits << 8) | in[p + i];
        double v;
        std::memcpy(&v, &bits, 8);
        if ((id = FloatValue(v)) < 0) return DECLINE;
        p += 8;
        Push(id);
        break;
      }
      case 0x49:  // I
      case 0x4c: {  // L
        const void* nl = std::memchr(in + p, '\n', n - p);
        if (nl == nullptr) return DECLINE;
        const size_t e = static_cast<const uint8_t*>(nl) - in;
        if (e - p > 400 || (id = DigitsValue(op, p, e)) < 0) return DECLINE;
        p = e + 1;
        Push(id);
        break;
      }
      case 0x8a: {  // LONG1
        if (p >= n) return DECLINE;
        const size_t len = in[p++];
        if (len > n - p || len > 8) return DECLINE;
        uint64_t u = 0;
        for (size_t i = len; i-- > 0;) u = (u << 8) | in[p + i];
        int64_t v = static_cast<int64_t>(u);
        if (len > 0 && len < 8 && (in[p + len - 1] & 0x80)) v -= static_cast<int64_t>(1) << (8 * len);
        if ((id = IntValue(v)) < 0) return DECLINE;
        p += len;
        Push(id);
        break;
      }
      case 0x58:    // X BINUNICODE
      case 0x8c: {  // SHORT_BINUNICODE
        size_t len;
        if (op == 0x58) {
          if (p + 4 > n) return DECLINE;
          len = ReadU32LE(in + p);
          p += 4;
        } else {
          if (p >= n) return DECLINE;
          len = in[p++];
        }
        if (len > n - p || (id = StrValue(p, p + len)) < 0) return DECLINE;
        p += len;
        Push(id);
        // Pickle memoizes every str: the BINPUT that follows is taken here, saving a round of the dispatch.
        if (p + 1 < n && in[p] == 0x71) {
          MemoPut(in[p + 1]);
          p += 2;
        }
        break;
      }
      case 0x71:    // q BINPUT
      case 0x72:    // r LONG_BINPUT
      case 0x94: {  // MEMOIZE
        uint32_t slot;
        if (op == 0x71) {
          if (p >= n) return DECLINE;
          slot = in[p++];
        } else if (op == 0x72) {
          if (p + 4 > n) return DECLINE;
          slot = ReadU32LE(in + p);
          p += 4;
        } else {
          slot = memoSet_;  // MEMOIZE stores at the number of slots set so far (pickle's len(memo))
        }
        if (stack_.empty() || stack_.back() == MARK || slot > MAX_MEMO_SLOT) return DECLINE;
        MemoPut(slot);
        break;
      }
      case 0x68:    // h BINGET
      case 0x6a: {  // j LONG_BINGET
        uint32_t slot;
        if (op == 0x68) {
          if (p >= n) return DECLINE;
          slot = in[p++];
        } else {
          if (p + 4 > n) return DECLINE;
          slot = ReadU32LE(in + p);
          p += 4;
        }
        if (slot > MAX_MEMO_SLOT || memoStamp_[slot] != memoNow_) return DECLINE;
        Push(memoVal_[slot]);
        break;
      }
      case 0x61: {  // a APPEND
        if (stack_.size() < 2) return DECLINE;
        const int32_t item = stack_.back();
        stack_.pop_back();
        const int32_t list = stack_.back();
        // Re-checked after Finish(): an item that is the list itself (a cycle) finishes it.
        if (item == MARK || list == MARK || values_[list].kind != LIST || !Finish(item, top) ||
            values_[list].kind != LIST)
          return DECLINE;
        items_[list].push_back(item);
        itemsAdded_++;
        break;
      }
      case 0x65:    // e APPENDS
      case 0x90:    // ADDITEMS
      case 0x75: {  // u SETITEMS
        if (marks_.empty()) return DECLINE;
        const size_t m = marks_.back();
        marks_.pop_back();
        if (m == 0 || m >= stack_.size()) return DECLINE;
        const uint8_t want = op == 0x75 ? DICT : LIST;
        if (op == 0x75 && (stack_.size() - m - 1) % 2 != 0) return DECLINE;
        const int32_t container = stack_[m - 1];
        if (container == MARK || values_[container].kind != want) return DECLINE;
        // All items first: one of them may be the container itself (a cycle), which finishes it.
        for (size_t i = m + 1; i < stack_.size(); i++)
          if (!Finish(stack_[i], top)) return DECLINE;
        if (values_[container].kind != want) return DECLINE;
        items_[container].insert(items_[container].end(), stack_.begin() + m + 1, stack_.end());
        itemsAdded_ += stack_.size() - m - 1;
        stack_.resize(m);
        break;
      }
      case 0x73: {  // s SETITEM
        if (stack_.size() < 3) return DECLINE;
        const int32_t value = stack_.back();
        stack_.pop_back();
        const int32_t key = stack_.back();
        stack_.pop_back();
        const int32_t dict = stack_.back();
        if (value == MARK || key == MARK || dict == MARK || values_[dict].kind != DICT) return DECLINE;
        if (!Finish(key, top) || !Finish(value, top) || values_[dict].kind != DICT) return DECLINE;
        items_[dict].push_back(key);
        items_[dict].push_back(value);
        itemsAdded_ += 2;
        break;
      }
      case 0x74:    // t TUPLE
      case 0x91: {  // FROZENSET
        if (marks_.empty()) return DECLINE;
        const size_t m = marks_.back();
        marks_.pop_back();
        if (m >= stack_.size() || (id = ArrayValue(m + 1, top)) < 0) return DECLINE;
        stack_.resize(m);
        Push(id);
        break;
      }
      case 0x85:    // TUPLE1
      case 0x86:    // TUPLE2
      case 0x87: {  // TUPLE3
        const size_t k = op - 0x84;
        if (stack_.size() < k || (id = ArrayValue(stack_.size() - k, top)) < 0) return DECLINE;
        Push(id);
        break;
      }
      case 0x2e:  // . STOP
        if (stack_.size() != 1 || !marks_.empty() || stack_[0] != top) return DECLINE;
        return Assemble(top, out, outLen, pos, state);
      default:
        return DECLINE;
    }
  }
  return DECLINE;
}

bool GetBuffer(napi_env env, napi_value value, uint8_t** data, size_t* length) {
  bool is = false;
  if (napi_is_buffer(env, value, &is) != napi_ok || !is) return false;
  void* p = nullptr;
  if (napi_get_buffer_info(env, value, &p, length) != napi_ok) return false;
  *data = static_cast<uint8_t*>(p);
  return true;
}

// transcode(payload: Buffer, slab: Buffer, pos: number, state: Buffer, maxScratch: number): number
napi_value Transcode(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  uint8_t *in, *out, *state;
  size_t inLen, outLen, stateLen;
  int64_t pos;
  double maxScratch;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc != 5 ||
      !GetBuffer(env, argv[0], &in, &inLen) || !GetBuffer(env, argv[1], &out, &outLen) ||
      napi_get_value_int64(env, argv[2], &pos) != napi_ok || !GetBuffer(env, argv[3], &state, &stateLen) ||
      napi_get_value_double(env, argv[4], &maxScratch) != napi_ok || stateLen < STATE_SIZE || pos < 0 ||
      static_cast<size_t>(pos) > outLen || outLen > 0x7fffffff || state[16] > PREFIX_MAX || !(maxScratch >= 0)) {
    napi_throw_type_error(env, nullptr, "transcode(payload, slab, pos, state, maxScratch): bad arguments");
    return nullptr;
  }
  static thread_local Machine* machine = nullptr;
  if (machine == nullptr) machine = new Machine();
  const int32_t result =
      machine->Run(in, inLen, out, outLen, static_cast<size_t>(pos), state, static_cast<size_t>(maxScratch));
  napi_value ret;
  napi_create_int32(env, result, &ret);
  return ret;
}

}  // namespace

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "transcode", NAPI_AUTO_LENGTH, Transcode, nullptr, &fn);
  napi_set_named_property(env, exports, "transcode", fn);
  return exports;
}
