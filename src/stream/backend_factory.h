// How the streaming server turns a request into a command backend. The default runs the OCI
// runtime (exec) and connects to conmon (attach); unit tests substitute fakes.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <string>

#include "stream/remote_command.h"
#include "stream/stream_request.h"

namespace tether::stream {

class BackendFactory {
 public:
  virtual ~BackendFactory() = default;
  // `strand`: the connection's; `blocking`: a pool for work that may block (fork, waits).
  virtual std::shared_ptr<CommandBackend> Exec(boost::asio::any_io_executor strand,
                                               boost::asio::thread_pool& blocking,
                                               const ExecRequest& request) = 0;
  virtual std::shared_ptr<CommandBackend> Attach(boost::asio::any_io_executor strand,
                                                 const AttachRequest& request) = 0;
};

// runc exec and conmon's attach socket.
std::shared_ptr<BackendFactory> NewRuntimeBackends();

}  // namespace tether::stream
