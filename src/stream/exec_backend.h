// Exec: a new process in a running container through the OCI runtime, in the foreground,
//   runc --root R --log L --log-format json exec --process P.json --pid-file F ID
// with the container's process settings (its recorded OCI spec) and the new argv. The runtime's
// exit status is the process's. Without a tty, pipes carry stdin, stdout and stderr. With a tty,
// the runtime's stdio is a pty of ours whose session it leads: it creates the container's pty,
// relays between the two and copies our size to it on SIGWINCH, so a resize is TIOCSWINSZ on our
// master. (runc accepts --console-socket only with --detach, and a detached exec's status is
// lost.) When the client goes away, the process is killed (its pid from the pid file) and the
// runtime reaped: nothing stays behind.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <string>

#include "stream/remote_command.h"
#include "stream/stream_request.h"

namespace tether::stream {

// `strand`: the connection's; `blocking`: where starting the runtime (files, fork) runs.
std::shared_ptr<CommandBackend> NewExecBackend(boost::asio::any_io_executor strand,
                                               boost::asio::thread_pool& blocking,
                                               ExecRequest request);

}  // namespace tether::stream
