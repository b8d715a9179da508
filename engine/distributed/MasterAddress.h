// The host name of rank 0's machine (--master-addr, MASTER_ADDR) checked before anything waits on it:
// c10d's TCP store retries a name that does not resolve as if rank 0 were late, until the rendezvous
// timeout (300 s by default), and then reports a connection timeout.
#pragma once

#include <string>

namespace rslora::engine::distributed {

// Throws rslora::Error naming `source` (the option or variable) and `host` when the name does not
// resolve. A temporary failure of the resolver (EAI_AGAIN) is retried for up to `timeoutSeconds`.
void requireResolvableHost(const std::string& host, const std::string& source, int timeoutSeconds);

} // namespace rslora::engine::distributed
