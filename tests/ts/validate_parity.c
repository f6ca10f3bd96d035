/* SPDX-License-Identifier: MIT */
/*
 * validate_parity.c: the C side of the validator parity test (validate_parity.ts prints the
 * cases): each line is a kitchen_sink message name, its bytes in hex ("-" for none) and the
 * TypeScript validator's verdict; this program decodes the bytes with protobuf-c, runs the C
 * validator veranic generated for that message and prints every verdict that differs. Exit 0
 * when none does and at least one case was read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kitchen_schema.h"

typedef int (*check_fn)(const ProtobufCMessage *m, verani_verr *err);

#define CHECK(fn, type)                                                                    \
    static int check_##fn(const ProtobufCMessage *m, verani_verr *err)                     \
    {                                                                                      \
        return kitchen_validate_##fn((const type *)m, err);                                \
    }
CHECK(scalars, Kitchen__Scalars)
CHECK(labels, Kitchen__Labels)
CHECK(player, Kitchen__Player)
CHECK(team, Kitchen__Team)

static const struct {
    const char *name;
    const ProtobufCMessageDescriptor *desc;
    check_fn check;
} messages[] = {
    {"Scalars", &kitchen__scalars__descriptor, check_scalars},
    {"Labels", &kitchen__labels__descriptor, check_labels},
    {"Player", &kitchen__player__descriptor, check_player},
    {"Team", &kitchen__team__descriptor, check_team},
};

int main(void)
{
    char line[65536], name[64], hexs[32768], want[1024], got[1024];
    uint8_t bytes[16384];
    int cases = 0, bad = 0;

    while (fgets(line, sizeof(line), stdin)) {
        size_t i, n = 0;
        int k = -1;

        if (sscanf(line, "%63s %32767s %1023[^\n]", name, hexs, want) != 3)
            continue;
        for (i = 0; i < sizeof(messages) / sizeof(messages[0]); i++)
            if (!strcmp(messages[i].name, name))
                k = (int)i;
        if (k < 0) {
            printf("unknown message %s\n", name);
            return 1;
        }
        for (i = 0; hexs[0] != '-' && hexs[2 * i] && n < sizeof(bytes); i++) {
            unsigned v;

            if (sscanf(hexs + 2 * i, "%2x", &v) != 1)
                return 1;
            bytes[n++] = (uint8_t)v;
        }
        ProtobufCMessage *m = protobuf_c_message_unpack(messages[k].desc, NULL, n, bytes);
        verani_verr err;

        if (!m) {
            printf("%s %s: protobuf-c cannot decode it\n", name, hexs);
            bad++;
            continue;
        }
        memset(&err, 0, sizeof(err));
        if (messages[k].check(m, &err) == 0)
            snprintf(got, sizeof(got), "ok");
        else
            snprintf(got, sizeof(got), "%s: %s", err.path, err.reason);
        if (strcmp(got, want)) {
            printf("%s %s: TypeScript says \"%s\", C says \"%s\"\n", name, hexs, want, got);
            bad++;
        }
        protobuf_c_message_free_unpacked(m, NULL);
        cases++;
    }
    printf("%d cases, %d differ\n", cases, bad);
    return cases > 0 && bad == 0 ? 0 : 1;
}
