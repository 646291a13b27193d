// The restricted unpickler for torch.save state dicts (see torch_pickle.h).
#include <cstring>
#include <map>
#include <memory>
#include <unordered_map>

#include "core/error.h"
#include "io/torch_pickle.h"

namespace mmada {

namespace {

// The few Python values a state-dict pickle builds.
enum class Kind { None, Bool, Int, Str, Tuple, Dict, Global, Storage, Tensor };

struct Obj;
using Ref = std::shared_ptr<Obj>;

struct Obj {
  Kind kind = Kind::None;
  int depth = 0;           // nesting, bounded so destruction never recurses deeply
  bool contained = false;  // inside a container: a dict is then frozen, so no cycle can form
  int64_t i = 0;           // Int, Bool
  std::string s;           // Str; Global "module.name"; Storage key
  std::vector<Ref> items;  // Tuple
  std::vector<std::pair<Ref, Ref>> dict;
  DType dtype = DType::F32;  // Storage (from its class) or the storage-class Global
  int64_t numel = 0;         // Storage
  PickledTensor tensor;      // Tensor
};

Ref make(Kind k) {
  auto o = std::make_shared<Obj>();
  o->kind = k;
  return o;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Str: return "str";
    case Kind::Tuple: return "tuple";
    case Kind::Dict: return "dict";
    case Kind::Global: return "global";
    case Kind::Storage: return "storage";
    case Kind::Tensor: return "tensor";
  }
  return "?";
}

// Storage classes of torch.save, by class name (the module is "torch").
bool storage_dtype(const std::string& name, DType* out) {
  static const std::map<std::string, DType> kinds = {
      {"DoubleStorage", DType::F64}, {"FloatStorage", DType::F32}, {"HalfStorage", DType::F16},
      {"BFloat16Storage", DType::BF16}, {"LongStorage", DType::I64}, {"IntStorage", DType::I32},
      {"ShortStorage", DType::I16}, {"CharStorage", DType::I8}, {"ByteStorage", DType::U8},
      {"BoolStorage", DType::BOOL}};
  const auto it = kinds.find(name);
  if (it == kinds.end()) return false;
  *out = it->second;
  return true;
}

constexpr const char* kRebuildTensor = "torch._utils._rebuild_tensor_v2";
constexpr const char* kRebuildParameter = "torch._utils._rebuild_parameter";
constexpr const char* kOrderedDict = "collections.OrderedDict";

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, std::string where)
      : p_(data), n_(size), where_(std::move(where)) {}

  Ref run() {
    for (;;) {
      op_pos_ = pos_;
      const uint8_t op = u8();
      switch (op) {
        case 0x80: {  // PROTO
          const uint8_t v = u8();
          if (v > 5) bad("unsupported pickle protocol ", int(v));
          break;
        }
        case 0x95: bytes(8); break;  // FRAME: a length hint only
        case '.': return pop();      // STOP
        case '}': push(make(Kind::Dict)); break;
        case ')': push(make(Kind::Tuple)); break;
        case '(': marks_.push_back(stack_.size()); break;
        case 'N': push(make(Kind::None)); break;
        case 0x88: case 0x89: {  // NEWTRUE, NEWFALSE
          Ref b = make(Kind::Bool);
          b->i = op == 0x88;
          push(b);
          break;
        }
        case 'K': push_int(u8()); break;  // BININT1
        case 'M': push_int(u16()); break;  // BININT2
        case 'J': push_int(int32_t(u32())); break;  // BININT
        case 0x8a: push_int(long1()); break;
        case 'X': push_str(u32()); break;  // BINUNICODE
        case 0x8c: case 'U': push_str(u8()); break;  // SHORT_BINUNICODE, SHORT_BINSTRING
        case 't': push(tuple(pop_mark())); break;
        case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
          const size_t k = size_t(op - 0x84);
          if (stack_.size() < k + floor()) bad("stack underflow");
          std::vector<Ref> items(stack_.end() - long(k), stack_.end());
          stack_.resize(stack_.size() - k);
          push(tuple(std::move(items)));
          break;
        }
        case 'h': push(memo_get(u8())); break;   // BINGET
        case 'j': push(memo_get(u32())); break;  // LONG_BINGET
        case 'q': memo_put(u8()); break;         // BINPUT
        case 'r': memo_put(u32()); break;        // LONG_BINPUT
        case 0x94: memo_put(uint32_t(memo_.size())); break;  // MEMOIZE
        case 'c': {  // GLOBAL "module\nname\n"
          std::string module = line();
          std::string name = line();
          push(global(module, name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          Ref name = pop(), module = pop();
          if (module->kind != Kind::Str || name->kind != Kind::Str) bad("STACK_GLOBAL needs two strings");
          push(global(module->s, name->s));
          break;
        }
        case 'Q': push(persistent_load(pop())); break;  // BINPERSID
        case 'R': {                                     // REDUCE
          Ref args = pop(), fn = pop();
          push(reduce(fn, args));
          break;
        }
        case 's': {  // SETITEM
          Ref value = pop(), key = pop();
          set_item(top(), key, value);
          break;
        }
        case 'u': {  // SETITEMS
          std::vector<Ref> kv = pop_mark();
          if (kv.size() % 2) bad("SETITEMS with an odd number of items");
          Ref d = top();
          for (size_t i = 0; i < kv.size(); i += 2) set_item(d, kv[i], kv[i + 1]);
          break;
        }
        case 'b': {  // BUILD: only the attribute state of an OrderedDict / tensor, dropped
          Ref state = pop();
          const Kind k = top()->kind;
          if (k != Kind::Dict && k != Kind::Tensor) bad("BUILD on a ", kind_name(k));
          break;
        }
        default:
          bad("unsupported pickle opcode 0x", hex(op));
      }
    }
  }

 private:
  const uint8_t* p_;
  size_t n_, pos_ = 0, op_pos_ = 0;
  std::string where_;
  std::vector<Ref> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, Ref> memo_;

  template <typename... Args>
  [[noreturn]] void bad(const Args&... args) const {
    fail(where_, ": ", args..., " (pickle offset ", op_pos_, ")");
  }
  static std::string hex(uint8_t v) {
    const char* d = "0123456789abcdef";
    return {d[v >> 4], d[v & 15]};
  }

  const uint8_t* bytes(size_t k) {
    if (k > n_ - pos_) bad("pickle is truncated");
    const uint8_t* b = p_ + pos_;
    pos_ += k;
    return b;
  }
  uint8_t u8() { return *bytes(1); }
  uint16_t u16() {
    const uint8_t* b = bytes(2);
    return uint16_t(b[0] | b[1] << 8);
  }
  uint32_t u32() {
    const uint8_t* b = bytes(4);
    return uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
  }
  int64_t long1() {  // little-endian two's complement of n <= 8 bytes
    const uint8_t n = u8();
    if (n > 8) bad("LONG1 integer of ", int(n), " bytes is too large");
    const uint8_t* b = bytes(n);
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= uint64_t(b[i]) << (8 * i);
    if (n > 0 && n < 8 && (b[n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
    return int64_t(v);
  }
  std::string line() {
    std::string s;
    for (;;) {
      const char c = char(u8());
      if (c == '\n') return s;
      if (s.size() >= 200) bad("GLOBAL name too long");
      s.push_back(c);
    }
  }

  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(Ref o) { stack_.push_back(std::move(o)); }
  Ref pop() {
    if (stack_.size() <= floor()) bad("stack underflow");
    Ref o = std::move(stack_.back());
    stack_.pop_back();
    return o;
  }
  const Ref& top() const {
    if (stack_.size() <= floor()) bad("stack underflow");
    return stack_.back();
  }
  std::vector<Ref> pop_mark() {
    if (marks_.empty()) bad("no MARK on the stack");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Ref> items(stack_.begin() + long(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  void push_int(int64_t v) {
    Ref o = make(Kind::Int);
    o->i = v;
    push(o);
  }
  void push_str(size_t len) {
    const uint8_t* b = bytes(len);
    Ref o = make(Kind::Str);
    o->s.assign(reinterpret_cast<const char*>(b), len);
    push(o);
  }
  void memo_put(uint32_t k) {
    if (memo_.size() >= (1u << 20) && !memo_.count(k)) bad("too many memo entries");
    memo_[k] = top();
  }
  Ref memo_get(uint32_t k) {
    const auto it = memo_.find(k);
    if (it == memo_.end()) bad("memo entry ", k, " used before it was set");
    return it->second;
  }
  void contain(Ref& parent, const Ref& child) {
    child->contained = true;
    parent->depth = std::max(parent->depth, child->depth + 1);
    if (parent->depth > kMaxPickleNesting) bad("objects nested deeper than ", kMaxPickleNesting);
  }
  Ref tuple(std::vector<Ref> items) {
    Ref t = make(Kind::Tuple);
    for (const Ref& c : items) contain(t, c);
    t->items = std::move(items);
    return t;
  }
  void set_item(Ref d, const Ref& key, const Ref& value) {
    if (d->kind != Kind::Dict) bad("SETITEM on a ", kind_name(d->kind));
    if (d->contained || key == d || value == d) bad("dict modified after it was stored elsewhere");
    contain(d, key);
    contain(d, value);
    d->dict.emplace_back(key, value);
  }

  Ref global(const std::string& module, const std::string& name) {
    const std::string full = module + "." + name;
    Ref g = make(Kind::Global);
    g->s = full;
    if (full == kRebuildTensor || full == kRebuildParameter || full == kOrderedDict) return g;
    if (module == "torch" && storage_dtype(name, &g->dtype)) return g;
    bad("refusing pickle global '", full, "'");
  }

  // ('storage', <storage class>, key, location, numel) -> a reference to data/<key>.
  Ref persistent_load(const Ref& pid) {
    const auto& it = pid->items;
    if (pid->kind != Kind::Tuple || it.size() != 5 || it[0]->kind != Kind::Str ||
        it[0]->s != "storage" || it[1]->kind != Kind::Global || !it[1]->s.starts_with("torch.") ||
        it[1]->s.find("Storage") == std::string::npos || it[2]->kind != Kind::Str ||
        it[3]->kind != Kind::Str || it[4]->kind != Kind::Int || it[4]->i < 0)
      bad("persistent id is not ('storage', torch.<Type>Storage, key, location, numel)");
    Ref s = make(Kind::Storage);
    s->dtype = it[1]->dtype;
    s->s = it[2]->s;
    s->numel = it[4]->i;
    return s;
  }

  Shape int_tuple(const Ref& t, const char* what) {
    if (t->kind != Kind::Tuple) bad(what, " is not a tuple");
    Shape out;
    for (const Ref& v : t->items) {
      if (v->kind != Kind::Int || v->i < 0 || v->i > (int64_t(1) << 40))
        bad(what, " holds a value that is not a size");
      out.push_back(v->i);
    }
    return out;
  }

  Ref reduce(const Ref& fn, const Ref& args) {
    if (fn->kind != Kind::Global) bad("REDUCE on a ", kind_name(fn->kind), ", not a known callable");
    if (args->kind != Kind::Tuple) bad("REDUCE arguments are not a tuple");
    const auto& a = args->items;
    if (fn->s == kOrderedDict) {
      if (!a.empty()) bad("OrderedDict built from arguments");
      return make(Kind::Dict);
    }
    if (fn->s == kRebuildParameter) {
      if (a.size() != 3 || a[0]->kind != Kind::Tensor) bad("_rebuild_parameter without a tensor");
      return a[0];
    }
    if (fn->s == kRebuildTensor) {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      if ((a.size() != 6 && a.size() != 7) || a[0]->kind != Kind::Storage || a[1]->kind != Kind::Int ||
          a[1]->i < 0)
        bad("_rebuild_tensor_v2 with unexpected arguments");
      Ref t = make(Kind::Tensor);
      PickledTensor& pt = t->tensor;
      pt.dtype = a[0]->dtype;
      pt.storage_key = a[0]->s;
      pt.storage_numel = a[0]->numel;
      pt.storage_offset = a[1]->i;
      pt.shape = int_tuple(a[2], "tensor size");
      pt.stride = int_tuple(a[3], "tensor stride");
      if (pt.shape.size() != pt.stride.size()) bad("tensor size and stride differ in length");
      try {
        (void)shape_numel(pt.shape);
      } catch (const Error&) {
        bad("tensor size ", shape_str(pt.shape), " overflows");
      }
      return t;
    }
    bad("REDUCE of '", fn->s, "' is not allowed");  // a storage class called directly
  }
};

}  // namespace

std::vector<PickledTensor> parse_torch_pickle(const uint8_t* data, size_t size, const std::string& where) {
  Ref root = Unpickler(data, size, where).run();
  MMADA_CHECK(root->kind == Kind::Dict, where, ": the pickle holds a ", kind_name(root->kind),
              ", not a state dict");
  std::vector<PickledTensor> out;
  std::map<std::string, bool> seen;
  for (const auto& [k, v] : root->dict) {
    MMADA_CHECK(k->kind == Kind::Str, where, ": state dict key is a ", kind_name(k->kind), ", not a string");
    MMADA_CHECK(v->kind == Kind::Tensor, where, ": entry '", k->s, "' is a ", kind_name(v->kind),
                ", not a tensor");
    MMADA_CHECK(!seen[k->s], where, ": entry '", k->s, "' appears twice");
    seen[k->s] = true;
    PickledTensor t = v->tensor;
    t.name = k->s;
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace mmada
