// safetensors: memory-mapped, zero-copy reader for single files and sharded folders
// (model.safetensors.index.json), with every header field validated, and a writer.
//
// Format: u64 little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}
// then the data section; offsets are relative to its start.
//
// Block-quantized tensors (core/quant.h) are stored as U8 [rows, bytes per row] with the
// metadata entry "mmada.quant.<name>": "<type>" (e.g. "Q8_0"); the reader gives them back with
// their type and logical shape [rows, weights per row]. Other safetensors readers see bytes.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace mmada {

// Largest JSON header accepted (the real 8B shards have ~30 KB headers).
constexpr size_t kMaxSafetensorsHeader = 100u << 20;

class SafeTensorsFile {
 public:
  // Throws mmada::Error naming the file and the problem for any malformed input.
  static std::shared_ptr<SafeTensorsFile> open(const std::string& path);
  // Same validation on bytes in memory (used by the fuzzer); tensors then point into `bytes`.
  static std::shared_ptr<SafeTensorsFile> parse(const unsigned char* bytes, size_t size,
                                                const std::string& name,
                                                std::shared_ptr<void> owner = nullptr);

  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  const Tensor& get(const std::string& name) const;  // throws if absent
  std::vector<std::string> names() const;            // sorted
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::shared_ptr<MappedFile> file_;
  std::map<std::string, Tensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A checkpoint made of one or more safetensors files, looked up by tensor name.
class SafeTensorsSet {
 public:
  // `path` is a .safetensors file or a folder holding model.safetensors.index.json,
  // model.safetensors or exactly one *.safetensors file.
  static SafeTensorsSet open(const std::string& path);

  bool has(const std::string& name) const { return where_.count(name) != 0; }
  const Tensor& get(const std::string& name) const;  // error names the checkpoint
  std::vector<std::string> names() const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::shared_ptr<SafeTensorsFile>> files_;
  std::map<std::string, size_t> where_;
};

// Metadata key naming the block type of a quantized tensor stored as U8.
std::string quant_metadata_key(const std::string& tensor_name);

// Writes tensors (any supported dtype incl. block-quantized ones, contiguous) to `path` via a temporary file and rename,
// so a crash never leaves a half-written file under the final name.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace mmada
