// Sockets inside other network namespaces.
//
// A socket belongs to the namespace its creating thread was in when socket() ran, and stays
// there. So a socket for another namespace is made on a thread that entered it with setns();
// the JS thread and libuv's pool never change namespace.
#pragma once

#include <functional>
#include <string>

#include "errors.h"

namespace nfct {

// Opens a namespace file (/run/netns/NAME, /proc/PID/ns/net, ...) for later setns().
// Returns the fd or -1 with *f set.
int OpenNamespace(const std::string& path, Failure* f);

// Moves the calling thread into the namespace. Only for threads the addon owns.
bool EnterNamespace(int nsfd, Failure* f);

// Runs fn on a short-lived thread inside the namespace file `ns` (the process's own when `ns` is
// empty) and waits for it. False, with *f set, when the namespace cannot be opened or entered
// (fn does not run then); fn reports its own failures in *f.
bool RunInNamespace(const std::string& ns, Failure* f, const std::function<void()>& fn);

// Opens a netlink socket of the given protocol inside nsfd (or the process's own namespace
// when nsfd < 0), from a short-lived helper thread. Returns the fd or -1 with *f set.
int OpenNetlinkIn(int nsfd, int protocol, Failure* f);

}  // namespace nfct
