// Attach: conmon's attach socket (SOCK_SEQPACKET). Every packet from conmon is one read of the
// container's output prefixed by a byte naming the pipe (2 stdout, 3 stderr; conmon's stdpipe_t);
// packets to conmon are stdin bytes (at most 8 KiB each here; conmon reads 32 KiB - 1). Closing
// our write side tells conmon stdin ended (it closes the container's stdin if the container is
// stdin_once). Resizes go through the `ctl` fifo in the bundle: "1 <height> <width>\n".
// Detaching leaves the container running.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <memory>

#include "stream/remote_command.h"
#include "stream/stream_request.h"

namespace tether::stream {

std::shared_ptr<CommandBackend> NewAttachBackend(boost::asio::any_io_executor strand,
                                                 AttachRequest request);

}  // namespace tether::stream
