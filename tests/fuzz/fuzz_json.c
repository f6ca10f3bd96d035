/* SPDX-License-Identifier: MIT */
/*
 * fuzz_json.c: libFuzzer target for the JSON wire's codec (wire/json_in.c,
 * json_out.c). Any bytes go through vr_json_frame_parse; a frame that passes
 * has its data decoded as every message of schema/kitchen_sink.verani
 * (generated/kitchen_sink: every field kind, maps, nesting, enums), and as
 * the payload of every event of its rooms with that event's validator.
 * Whatever decodes is the oracle's: written again with vr_json_members inside
 * a new frame, it must parse, decode (and validate, when it did) to a message
 * with the same protobuf encoding, and vr_json_event must write a frame that
 * parses. Any difference aborts. No crash, no leak, no undefined behaviour,
 * for any input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kitchen_schema.h"
#include "wire/json-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const ProtobufCMessageDescriptor *const descs[] = {
    &kitchen__scalars__descriptor,
    &kitchen__labels__descriptor,
    &kitchen__labels__scores_entry__descriptor,
    &kitchen__labels__by_name_entry__descriptor,
    &kitchen__labels__colors_entry__descriptor,
    &kitchen__player__descriptor,
    &kitchen__team__descriptor,
    &kitchen__plain__descriptor,
    &kitchen__nothing__descriptor,
    &kitchen__lobby_meta__descriptor,
    &kitchen__game_lobby_meta__descriptor,
    &kitchen__quiet_meta__descriptor,
    &kitchen__lobby_on__descriptor,
    &kitchen__lobby_on__reply__descriptor,
    &kitchen__lobby_emit__descriptor,
    &kitchen__game_lobby_on__descriptor,
    &kitchen__verani_schema__descriptor,
};

static const verani_room_schema *const rooms[] = {
    &kitchen_lobby_schema, &kitchen_game_lobby_schema, &kitchen_quiet_schema};

static uint8_t *packed(const ProtobufCMessage *m, size_t *len)
{
    uint8_t *buf;

    *len = protobuf_c_message_get_packed_size(m);
    if (!(buf = malloc(*len ? *len : 1)) || protobuf_c_message_pack(m, buf) != *len)
        abort();
    return buf;
}

/* `m` decoded (and passed `validate`) from a frame: written again, it reads back the same. */
static void oracle(const vr_jframe *f, const ProtobufCMessage *m, verani_validate_fn validate)
{
    static const char head[] = "{\"type\":\"t\",\"data\":{";
    vr_sb sb = {0};
    vr_jframe again;
    ProtobufCMessage *back = NULL;
    verani_verr verr;
    uint8_t *a, *b;
    size_t na, nb;

    vr_sb_add(&sb, head, sizeof(head) - 1);
    vr_json_members(&sb, m, 0);
    vr_sb_add(&sb, "}}", 2);
    if (sb.failed || vr_json_frame_parse(sb.buf, sb.len, &again, NULL))
        abort();
    if (vr_json_payload_decode(&again, m->descriptor, validate, &back, &verr) || !back)
        abort();
    a = packed(m, &na);
    b = packed(back, &nb);
    if (na != nb || memcmp(a, b, na) != 0)
        abort();
    free(a);
    free(b);
    protobuf_c_message_free_unpacked(back, &vr_pb_allocator);
    vr_json_frame_free(&again);

    /* the whole event frame, named and addressed by the input's own strings */
    sb.len = 0;
    if (vr_json_event(&sb, f->channel ? f->channel : "default", f->type, m) ||
        vr_json_frame_parse(sb.buf, sb.len, &again, NULL) || strcmp(again.type, "event") != 0)
        abort();
    vr_json_frame_free(&again);
    vr_sb_free(&sb);
}

static void try_decode(const vr_jframe *f, const ProtobufCMessageDescriptor *desc,
                       verani_validate_fn validate)
{
    ProtobufCMessage *m = NULL;
    verani_verr verr;
    int rc = vr_json_payload_decode(f, desc, validate, &m, &verr);

    if (rc) {
        if (m || rc != VERANI_EINVAL || !verr.reason[0])
            abort(); /* a failure hands out nothing and says why */
        return;
    }
    if (!desc) {
        if (m)
            abort();
        return;
    }
    oracle(f, m, validate);
    protobuf_c_message_free_unpacked(m, &vr_pb_allocator);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *why = NULL;
    vr_jframe f;
    size_t i, r;
    int rc = vr_json_frame_parse((const char *)data, size, &f, &why);

    if (rc) {
        if (rc == VERANI_EPROTO && !why)
            abort(); /* a refusal says why */
        return 0;
    }
    (void)vr_json_frame_data_string(&f, "channel");
    for (i = 0; i < sizeof(descs) / sizeof(descs[0]); i++)
        try_decode(&f, descs[i], NULL);
    for (r = 0; r < sizeof(rooms) / sizeof(rooms[0]); r++) {
        for (i = 0; i < rooms[r]->n_on; i++)
            if (rooms[r]->on[i].validate_in)
                try_decode(&f, rooms[r]->on[i].in, rooms[r]->on[i].validate_in);
        for (i = 0; i < rooms[r]->n_emit; i++)
            if (rooms[r]->emit[i].validate_in)
                try_decode(&f, rooms[r]->emit[i].in, rooms[r]->emit[i].validate_in);
    }
    try_decode(&f, NULL, NULL);
    vr_json_frame_free(&f);
    return 0;
}
