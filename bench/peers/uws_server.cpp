// SPDX-License-Identifier: MIT
//
// uws_server.cpp: the uWebSockets peer of bench/ (issue 20): a uWS::App on 127.0.0.1 (port 0
// unless --port) speaking the framing of the `ws` peer, which the load generator's `ws` driver
// uses. Every connection subscribes to topic "bench" when it opens; a binary 'P' + n (8 bytes)
// + 64 bytes is published to the topic as its sender (uWS sends it to every other subscriber,
// corked, as uWS users write a broadcast); an 'E' message is sent back (echo, churn).
// Compression, automatic pings and the idle timeout are off; the back-pressure limit is
// 1 MiB, far above what the generator's window of 32 messages can queue. It prints
// "PID <pid> PORT <port>" once it listens and ends on SIGINT or SIGTERM (their default
// action). It measures nothing: the load generator reads /proc.
//
// uWebSockets and uSockets are not part of this repository and nothing here builds them:
// bench/run.sh runs a uws_server binary that was built from this file against a local copy
// of them (bench/RESULTS.md says where run.sh looks for it), and skips the peer otherwise.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <sys/resource.h>
#include <unistd.h>

#include "App.h"

namespace {

struct PerSocketData {
};

void usage(FILE *f)
{
    std::fprintf(f, "usage: uws_server [--port N]\n"
                    "The uWebSockets peer of bench/: 'P' messages go to every other "
                    "connection,\n'E' messages back to their sender. Prints \"PID <pid> "
                    "PORT <port>\" once it listens.\n");
}

} // namespace

int main(int argc, char **argv)
{
    int port = 0;
    struct rlimit rl;

    for (int i = 1; i < argc; i++) {
        if (!std::strcmp(argv[i], "--port") && i + 1 < argc) {
            char *end;
            long v = std::strtol(argv[++i], &end, 10);

            if (*end || v < 0 || v > 65535) {
                usage(stderr);
                return 2;
            }
            port = static_cast<int>(v);
        } else if (!std::strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max; // idle holds 10,000 connections or more
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    std::signal(SIGPIPE, SIG_IGN);

    bool listening = false;
    uWS::App()
        .ws<PerSocketData>("/*", {
            .compression = uWS::DISABLED,
            .maxPayloadLength = 16 * 1024,
            .idleTimeout = 0,
            .maxBackpressure = 1024 * 1024,
            .closeOnBackpressureLimit = false,
            .resetIdleTimeoutOnSend = false,
            .sendPingsAutomatically = false,
            .open = [](auto *ws) { ws->subscribe("bench"); },
            .message = [](auto *ws, std::string_view m, uWS::OpCode op) {
                if (op != uWS::OpCode::BINARY || m.empty())
                    return;
                if (m[0] == 'P')
                    ws->publish("bench", m, op);
                else if (m[0] == 'E')
                    ws->send(m, op);
            },
        })
        .listen("127.0.0.1", port, [&listening](us_listen_socket_t *ls) {
            if (!ls)
                return;
            listening = true;
            std::printf("PID %ld PORT %d\n", static_cast<long>(getpid()),
                        us_socket_local_port(0, reinterpret_cast<us_socket_t *>(ls)));
            std::fflush(stdout);
        })
        .run();
    if (!listening) {
        std::fprintf(stderr, "uws_server: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    return 0;
}
