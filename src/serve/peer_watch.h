// Noticing that an HTTP client went away while its job waits or runs. cpp-httplib 0.11 gives a
// handler no socket and no "connection closed" query, so the socket is found by its peer
// address among this process's descriptors; it stays open (and ours) until the handler returns.
#pragma once
#include <string>

namespace mmada::serve {

class PeerWatch {
 public:
  // -1 (never reports a close) when the socket cannot be found.
  PeerWatch(const std::string& remote_addr, int remote_port, int local_port);
  // True once the peer has closed or reset its side.
  bool peer_closed() const;

 private:
  int fd_ = -1;
};

}  // namespace mmada::serve
