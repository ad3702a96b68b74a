// The built-in RuntimeDefault seccomp profile: configs/seccomp/default.json, compiled in.
#pragma once

namespace tether {

extern const char kDefaultSeccompProfile[];

}  // namespace tether
