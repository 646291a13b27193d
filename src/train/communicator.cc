#include "train/communicator.h"

#include <algorithm>
#include <barrier>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/error.h"

namespace mmada::train {

void SoloCommunicator::reduce_scatter_sum(const float* send, float* recv, int64_t count) {
  MMADA_CHECK(send == recv, "SoloCommunicator: reduce-scatter of one rank is done in place");
  (void)count;
}
void SoloCommunicator::all_gather(const float* send, float* recv, int64_t count) {
  MMADA_CHECK(send == recv, "SoloCommunicator: all-gather of one rank is done in place");
  (void)count;
}

std::vector<double> all_gather_values(Communicator& comm, const std::vector<double>& mine) {
  const size_t n = mine.size(), r = size_t(comm.rank());
  std::vector<double> all(n * size_t(comm.world()), 0.0);
  std::copy(mine.begin(), mine.end(), all.begin() + long(r * n));
  comm.all_reduce_sum(all.data(), int64_t(all.size()));
  return all;
}

struct ThreadWorld::State {
  explicit State(int n) : world(n), sync(n), send(size_t(n)), dsend(size_t(n)) {}
  int world;
  std::barrier<> sync;
  std::vector<const float*> send;
  std::vector<double*> dsend;
};

namespace {
class ThreadRank final : public Communicator {
 public:
  ThreadRank(std::shared_ptr<ThreadWorld::State> s, int r) : s_(std::move(s)), rank_(r) {}
  int rank() const override { return rank_; }
  int world() const override { return s_->world; }

  void reduce_scatter_sum(const float* send, float* recv, int64_t count) override {
    s_->send[size_t(rank_)] = send;
    s_->sync.arrive_and_wait();
    std::vector<float> out(static_cast<size_t>(count), 0.0f);
    for (int k = 0; k < s_->world; ++k)
      for (int64_t i = 0; i < count; ++i) out[size_t(i)] += s_->send[size_t(k)][rank_ * count + i];
    s_->sync.arrive_and_wait();  // every rank has read every send buffer
    std::memcpy(recv, out.data(), out.size() * sizeof(float));
  }

  void all_gather(const float* send, float* recv, int64_t count) override {
    std::vector<float> own(send, send + count);  // send may alias recv
    s_->send[size_t(rank_)] = own.data();
    s_->sync.arrive_and_wait();
    for (int k = 0; k < s_->world; ++k)
      std::memcpy(recv + k * count, s_->send[size_t(k)], size_t(count) * sizeof(float));
    s_->sync.arrive_and_wait();
  }

  void all_reduce_sum(double* values, int64_t n) override {
    s_->dsend[size_t(rank_)] = values;
    s_->sync.arrive_and_wait();
    std::vector<double> out(static_cast<size_t>(n), 0.0);
    for (int k = 0; k < s_->world; ++k)
      for (int64_t i = 0; i < n; ++i) out[size_t(i)] += s_->dsend[size_t(k)][i];
    s_->sync.arrive_and_wait();
    std::memcpy(values, out.data(), out.size() * sizeof(double));
  }

 private:
  std::shared_ptr<ThreadWorld::State> s_;
  int rank_;
};
}  // namespace

ThreadWorld::ThreadWorld(int world) : state_(std::make_shared<State>(world)) {
  MMADA_CHECK(world >= 1, "ThreadWorld: world size ", world);
}
ThreadWorld::~ThreadWorld() = default;
std::unique_ptr<Communicator> ThreadWorld::rank(int r) {
  MMADA_CHECK(r >= 0 && r < state_->world, "ThreadWorld: rank ", r, " outside [0, ", state_->world, ")");
  return std::make_unique<ThreadRank>(state_, r);
}

namespace {
int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  MMADA_CHECK(end && *end == 0 && x >= 0 && x < 1000000, "environment ", name, "=\"", v,
              "\" is not a non-negative integer");
  return int(x);
}
}  // namespace

DistEnv DistEnv::from_environment() {
  DistEnv e;
  const bool mmada = std::getenv("MMADA_WORLD_SIZE") != nullptr;
  const char* pre = mmada ? "MMADA_" : "OMPI_COMM_WORLD_";
  const std::string p(pre);
  e.world = env_int((p + (mmada ? "WORLD_SIZE" : "SIZE")).c_str(), 1);
  e.rank = env_int((p + "RANK").c_str(), 0);
  e.local_rank = env_int((p + "LOCAL_RANK").c_str(), e.rank);
  MMADA_CHECK(e.world >= 1 && e.rank < e.world, "rank ", e.rank, " is outside a world of ", e.world,
              " (", p, "RANK / ", p, mmada ? "WORLD_SIZE" : "SIZE", ")");
  if (const char* id = std::getenv("MMADA_LAUNCH_ID")) e.launch_id = id;
  else if (const char* ns = std::getenv("PMIX_NAMESPACE")) e.launch_id = ns;
  return e;
}

#ifndef MMADA_WITH_CUDA
std::unique_ptr<Communicator> make_nccl_communicator(const DistEnv&, const std::string&) {
  fail("data-parallel training needs NCCL: this mmada was built without CUDA (configure with "
       "-DMMADA_CUDA=ON)");
}
#endif

}  // namespace mmada::train
