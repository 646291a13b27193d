// The NCCL Communicator (communicator.h). Each collective waits for the whole device first and
// for its own stream after, so the caller's kernels on any stream are ordered around it
// without sharing streams; a few synchronisations per optimizer step.
#include <nccl.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "backend/cuda/cuda_check.h"
#include "train/communicator.h"

#define MMADA_NCCL_CHECK(expr)                                                                  \
  do {                                                                                          \
    ncclResult_t r_ = (expr);                                                                   \
    if (r_ != ncclSuccess)                                                                      \
      ::mmada::fail("NCCL error in ", #expr, ": ", ncclGetErrorString(r_));                     \
  } while (0)

namespace mmada::train {

namespace {

namespace fs = std::filesystem;

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(const DistEnv& env, const std::string& dir) : rank_(env.rank), world_(env.world) {
    int count = 0;
    MMADA_CUDA_CHECK(cudaGetDeviceCount(&count));
    MMADA_CHECK(env.local_rank < count, "rank ", env.rank, " wants GPU ", env.local_rank, ", ",
                count, " visible");
    MMADA_CUDA_CHECK(cudaSetDevice(env.local_rank));
    std::string tag;
    for (char c : env.launch_id)
      if (std::isalnum(static_cast<unsigned char>(c))) tag += c;
    const fs::path file = fs::path(dir) / ("nccl-id" + (tag.empty() ? "" : "-" + tag));
    ncclUniqueId id;
    if (rank_ == 0) {
      MMADA_NCCL_CHECK(ncclGetUniqueId(&id));
      const fs::path tmp = file.string() + ".tmp";
      {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(id.internal, sizeof id.internal);
        MMADA_CHECK(out.good(), tmp.string(), ": cannot write the NCCL rendezvous file");
      }
      fs::rename(tmp, file);
    } else {
      // Wait for a file rank 0 wrote for this launch: one older than a minute before this
      // process started is a leftover of an earlier run.
      const auto started = fs::file_time_type::clock::now();
      for (int tries = 0;; ++tries) {
        std::error_code ec;
        const auto t = fs::last_write_time(file, ec);
        if (!ec && t > started - std::chrono::minutes(1) &&
            fs::file_size(file, ec) == sizeof id.internal && !ec) {
          std::ifstream in(file, std::ios::binary);
          in.read(id.internal, sizeof id.internal);
          if (in.gcount() == sizeof id.internal) break;
        }
        MMADA_CHECK(tries < 1200, "rank ", rank_, ": no NCCL rendezvous file ", file.string(),
                    " from rank 0 after two minutes");
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    MMADA_NCCL_CHECK(ncclCommInitRank(&comm_, world_, id, rank_));
    if (rank_ == 0) {  // every rank has joined: the id is spent
      std::error_code ec;
      fs::remove(file, ec);
    }
    MMADA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    MMADA_CUDA_CHECK(cudaMalloc(&scratch_, kScratch * sizeof(double)));
    std::fprintf(stderr, "mmada: rank %d of %d on GPU %d (NCCL)\n", rank_, world_, env.local_rank);
  }
  ~NcclCommunicator() override {
    cudaStreamSynchronize(stream_);
    ncclCommDestroy(comm_);
    cudaFree(scratch_);
    cudaStreamDestroy(stream_);
  }
  int rank() const override { return rank_; }
  int world() const override { return world_; }

  void reduce_scatter_sum(const float* send, float* recv, int64_t count) override {
    MMADA_CUDA_CHECK(cudaDeviceSynchronize());
    MMADA_NCCL_CHECK(ncclReduceScatter(send, recv, size_t(count), ncclFloat32, ncclSum, comm_, stream_));
    MMADA_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void all_gather(const float* send, float* recv, int64_t count) override {
    MMADA_CUDA_CHECK(cudaDeviceSynchronize());
    MMADA_NCCL_CHECK(ncclAllGather(send, recv, size_t(count), ncclFloat32, comm_, stream_));
    MMADA_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void all_reduce_sum(double* values, int64_t n) override {
    MMADA_CHECK(n <= kScratch, "all_reduce_sum: at most ", kScratch, " values");
    MMADA_CUDA_CHECK(cudaMemcpyAsync(scratch_, values, size_t(n) * sizeof(double), cudaMemcpyHostToDevice, stream_));
    MMADA_NCCL_CHECK(ncclAllReduce(scratch_, scratch_, size_t(n), ncclFloat64, ncclSum, comm_, stream_));
    MMADA_CUDA_CHECK(cudaMemcpyAsync(values, scratch_, size_t(n) * sizeof(double), cudaMemcpyDeviceToHost, stream_));
    MMADA_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

 private:
  static constexpr int64_t kScratch = 64;
  int rank_, world_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  double* scratch_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(const DistEnv& env, const std::string& dir) {
  return std::make_unique<NcclCommunicator>(env, dir);
}

}  // namespace mmada::train
