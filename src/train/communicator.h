// The collectives data-parallel training needs, behind one interface: NCCL between GPU
// processes (cuda/nccl_communicator.cu), and in-process implementations for a world of one and
// for threads standing in for ranks (so the ZeRO-1 arithmetic is tested on the CPU in CI).
// Buffers live where the implementation says (device memory for NCCL, host memory here);
// all_reduce_sum always takes host doubles (losses, squared norms: a few values per step).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mmada::train {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  // recv[i] = Σ_ranks send[rank()*count + i]   (send holds world()*count floats)
  virtual void reduce_scatter_sum(const float* send, float* recv, int64_t count) = 0;
  // recv[k*count + i] = send_of_rank_k[i]; send may be recv + rank()*count (in place)
  virtual void all_gather(const float* send, float* recv, int64_t count) = 0;
  // values[i] = Σ_ranks values[i], identical on every rank
  virtual void all_reduce_sum(double* values, int64_t n) = 0;
};

// World of one: every collective is the identity (host or device buffers alike).
class SoloCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world() const override { return 1; }
  void reduce_scatter_sum(const float* send, float* recv, int64_t count) override;
  void all_gather(const float* send, float* recv, int64_t count) override;
  void all_reduce_sum(double*, int64_t) override {}
};

// N ranks as N threads of one process over host buffers. Sums are taken in rank order, so the
// result does not depend on thread timing.
class ThreadWorld {
 public:
  explicit ThreadWorld(int world);
  ~ThreadWorld();
  std::unique_ptr<Communicator> rank(int r);  // one per thread
  struct State;

 private:
  std::shared_ptr<State> state_;
};

// Every rank's `mine` (the same count on each), in rank order, on every rank: [world][n]. Goes
// through all_reduce_sum with one slot per rank (exact: every other slot adds zeros), for the few
// per-step numbers a sum does not reduce (minima, maxima).
std::vector<double> all_gather_values(Communicator& comm, const std::vector<double>& mine);

// Where this process sits: MMADA_RANK / MMADA_WORLD_SIZE / MMADA_LOCAL_RANK, or OpenMPI's
// OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK under mpirun; world 1 when neither is set.
struct DistEnv {
  int rank = 0, world = 1, local_rank = 0;
  std::string launch_id;  // MMADA_LAUNCH_ID or PMIX_NAMESPACE: names the rendezvous file
  static DistEnv from_environment();
};

// NCCL over every process of the DistEnv, the unique id passed through a file in
// `rendezvous_dir` (rank 0 writes it atomically, the others wait up to two minutes for it).
// Selects GPU local_rank for the calling process. Fails plainly without CUDA.
std::unique_ptr<Communicator> make_nccl_communicator(const DistEnv& env,
                                                     const std::string& rendezvous_dir);

}  // namespace mmada::train
