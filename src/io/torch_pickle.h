// PyTorch checkpoints (`torch.save(state_dict)`, e.g. pytorch_model.bin) read without Python:
// a zip archive holding <prefix>/data.pkl (a pickle) and <prefix>/data/<key> storage files.
//
// The unpickler is a restricted interpreter for exactly what torch.save of a state dict emits
// (dicts / OrderedDicts of tensors rebuilt by torch._utils._rebuild_tensor_v2 from persistent
// storage ids). It calls nothing: every GLOBAL other than the few torch / collections names it
// knows is refused ("refusing pickle global 'os.system'"), as is any unknown opcode.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace mmada {

// One tensor as the pickle describes it: a view of storage `storage_key`.
struct PickledTensor {
  std::string name;
  DType dtype = DType::F32;       // from the storage class (torch.FloatStorage -> F32)
  Shape shape, stride;            // stride in elements
  int64_t storage_offset = 0;     // in elements
  std::string storage_key;        // file <prefix>/data/<key> in the archive
  int64_t storage_numel = 0;      // as recorded in the persistent id
};

// Limits of the interpreter (beyond them the pickle is refused, never a crash).
constexpr int kMaxPickleNesting = 64;

// Parses data.pkl bytes into the state dict's entries (in pickle order). `where` names the
// source in errors. Throws mmada::Error for anything outside the supported subset.
std::vector<PickledTensor> parse_torch_pickle(const uint8_t* data, size_t size,
                                              const std::string& where);

// Reads a torch.save zip checkpoint: name -> owned contiguous tensor, in pickle order.
// Only contiguous views are accepted; every view is bounds-checked against its storage file.
std::vector<std::pair<std::string, Tensor>> load_torch_checkpoint(const std::string& path);

}  // namespace mmada
