/* SPDX-License-Identifier: MIT */
/*
 * verani.h: the umbrella header of libverani. Include this one header to get
 * the whole public API: errors, allocators and logging (common.h), the seam
 * that veranic's generated code targets (gen.h), the server (server.h) and
 * the client (client.h), room storage (storage.h), outside calls and metrics
 * (rpc.h). Every runtime object is opaque; libwebsockets' headers are not
 * included.
 */
#ifndef VERANI_VERANI_H
#define VERANI_VERANI_H

#include <verani/common.h>
#include <verani/gen.h>
#include <verani/server.h>
#include <verani/client.h>
#include <verani/storage.h>
#include <verani/rpc.h>

#endif /* VERANI_VERANI_H */
