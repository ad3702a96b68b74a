#include "stream/spdy_client.h"

namespace tether::spdy {

ClientSession::ClientSession(SessionOptions options) : Session(Role::kClient, options) {}

}  // namespace tether::spdy
