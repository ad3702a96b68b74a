// Exec: a new process in a running container through the OCI runtime,
//   runc --root R --log L --log-format json exec --process P.json --pid-file F
//        [--console-socket S] ID
// with the container's process settings (its recorded OCI spec) and the new argv. With a tty the
// runtime hands us the pty's master over the console socket (SCM_RIGHTS) and we relay it and
// apply resizes (TIOCSWINSZ); without, pipes carry stdin, stdout and stderr. The runtime's exit
// status is the process's. When the client goes away, the process is killed (its pid from the pid
// file) and the runtime reaped: nothing stays behind.
#pragma once

#include <memory>
#include <string>

#include "boost/asio/any_io_executor.hpp"
#include "boost/asio/thread_pool.hpp"
#include "stream/remote_command.h"
#include "stream/stream_request.h"

namespace tether::stream {

// `strand`: the connection's; `blocking`: where starting the runtime (fork, waiting for the
// console fd) runs; `socket_dir`: a short directory for console sockets.
std::shared_ptr<CommandBackend> NewExecBackend(boost::asio::any_io_executor strand,
                                               boost::asio::thread_pool& blocking,
                                               ExecRequest request, std::string socket_dir);

}  // namespace tether::stream
