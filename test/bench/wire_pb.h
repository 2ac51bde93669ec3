/*
 * wire_pb.h — a Service in Kubernetes' protobuf wire format, for the
 * wire-format benchmark and its round-trip test (not part of lbprov).
 *
 * Encoding starts from the JSON a server sends (json-c builds the message,
 * every field the proto in k8s_wire.proto has, managedFields included) and
 * writes what a kube-apiserver writes for application/vnd.kubernetes.protobuf:
 * the magic "k8s\0", then runtime.Unknown {typeMeta, raw = the object's
 * message}. A watch frame is a 4-byte big-endian length, then a WatchEvent
 * whose object.raw is such an enveloped object. Go writes every non-pointer
 * field even when empty, so the builder sets those too (the sizes are a
 * real server's).
 *
 * Decoding is the client's half, as lbprov would do it: check the magic and
 * the envelope's kind, protobuf-c unpacks (with the caller's allocator, e.g.
 * an arena), and the Service is mapped into the same struct lbp_service the
 * JSON decoder (kube/decode.c) makes: one malloc block, freed with
 * lbp_kube_obj_unref, last-applied-configuration left out, a non-pointer
 * Go string that is empty read as absent.
 */
#ifndef LBP_TEST_BENCH_WIRE_PB_H
#define LBP_TEST_BENCH_WIRE_PB_H

#include "kube/kube.h"

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "k8s_wire.pb-c.h"

/* A bump allocator in chunks: messages built or unpacked into it are freed at once. */
struct lbp_wire_arena {
    struct lbp_wire_chunk *head;
    size_t chunk_size;
    ProtobufCAllocator pa; /* hands out arena memory; its free does nothing */
};

void lbp_wire_arena_init(struct lbp_wire_arena *a, size_t chunk_size);
/* Forgets everything allocated, keeping the first chunk for reuse. */
void lbp_wire_arena_reset(struct lbp_wire_arena *a);
void lbp_wire_arena_free(struct lbp_wire_arena *a);
void *lbp_wire_arena_alloc(struct lbp_wire_arena *a, size_t n);

/* The Service JSON (one object) as a message built in arena a. */
int lbp_wire_service_from_json(struct lbp_wire_arena *a, const char *json, size_t len,
                               Lbpwire__Service **out);

/* "k8s\0" + Unknown{typeMeta{api_version, kind}, raw = msg packed}: malloc'd into *out. */
int lbp_wire_envelope(const ProtobufCMessage *msg, const char *api_version, const char *kind,
                      uint8_t **out, size_t *out_len);

/* One watch frame (length + WatchEvent) around an enveloped object: malloc'd into *out. */
int lbp_wire_watch_frame(const char *type, const uint8_t *env, size_t env_len, uint8_t **out,
                         size_t *out_len);

/*
 * The client side. alloc: protobuf-c's allocator for the unpacked messages
 * (NULL: malloc); they are freed before return either way.
 */
/* Maps an unpacked Service into lbprov's struct (one block). */
int lbp_wire_map_service(const Lbpwire__Service *m, struct lbp_service **out);
/* An enveloped Service (a GET or write response body). */
int lbp_wire_decode_service(const uint8_t *buf, size_t len, ProtobufCAllocator *alloc,
                            struct lbp_service **out);
/* One watch frame; type gets the event type (at most type_cap - 1 bytes). */
int lbp_wire_decode_watch(const uint8_t *buf, size_t len, ProtobufCAllocator *alloc, char *type,
                          size_t type_cap, struct lbp_service **out);
/* An enveloped ServiceList: *out gets *n decoded Services (free each, then the array). */
int lbp_wire_decode_list(const uint8_t *buf, size_t len, ProtobufCAllocator *alloc,
                         struct lbp_service ***out, size_t *n);

/* Unpacks the envelope alone: the Unknown message (free with the same allocator). */
int lbp_wire_unwrap(const uint8_t *buf, size_t len, ProtobufCAllocator *alloc,
                    Lbpwire__Unknown **out);

#endif
