/*
 * ringstack_native: AF_PACKET and TAP frame I/O straight into and out of the SharedArrayBuffer frame rings
 * described in docs/ARCHITECTURE.md ("Frame ring records").
 *
 * Context-aware (NAPI_MODULE_INIT) and free of global mutable state, so any number of worker threads may load it.
 * Every device lives in a handle (a tagged napi_external) owned by the thread that opened it; the ring positions
 * stay in JavaScript: each batch call takes the positions, writes or reads records, and hands the new position
 * back. Runtime I/O trouble (queue full, interface down) is counted in the handle, never thrown; bad arguments and
 * malformed rings throw an Error whose `code` is the errno name where there is one.
 */
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "frame ring records and virtio_net_hdr are read as little-endian; this addon needs a little-endian host"
#endif

/* ------------------------------------------------------------------------------------------------------------ */
/* Frame ring layout (docs/ARCHITECTURE.md). Positions are free-running u32 byte counters.                     */

#define RING_CONTROL_BYTES 256u
#define RING_MAGIC 0x52535231u
#define RING_KIND_FRAME 1u
#define RECORD_HEADER_BYTES 18u
#define RECORD_WRAP 0xFFFFFFFFu

#define FRAME_CSUM_PARTIAL 1u
#define FRAME_CSUM_VALID 2u
#define FRAME_GSO_TCPV4 4u

typedef struct {
  uint8_t *data; /* start of the data region (buffer + 256) */
  uint32_t capacity;
} frame_ring;

typedef struct {
  uint16_t flags, gso_size, csum_start, csum_offset;
} record_meta;

static inline uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void wr16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline uint32_t record_bytes(uint32_t len) { return (RECORD_HEADER_BYTES + len + 7u) & ~7u; }

/*
 * Where a record of `len` frame bytes would start if the producer, now at `pos`, wrote it: after a wrap marker
 * when it would straddle the end of the data region. False when the consumer (at `head`) has not freed enough.
 */
static bool ring_place(const frame_ring *r, uint32_t pos, uint32_t head, uint32_t len, uint32_t *record_pos) {
  uint32_t need = record_bytes(len), off = pos & (r->capacity - 1), at = pos;
  if (need > r->capacity) return false;
  if (off + need > r->capacity) at = pos + (r->capacity - off);
  if ((uint32_t)(at + need - head) > r->capacity) return false;
  *record_pos = at;
  return true;
}

/* Writes the record header (and the wrap marker ring_place asked for); returns where the frame bytes go. */
static uint8_t *ring_write_header(const frame_ring *r, uint32_t pos, uint32_t record_pos, uint32_t len,
                                  const record_meta *m) {
  if (record_pos != pos) wr32(r->data + (pos & (r->capacity - 1)), RECORD_WRAP);
  uint8_t *rec = r->data + (record_pos & (r->capacity - 1));
  wr32(rec, len);
  wr16(rec + 4, m->flags);
  wr16(rec + 6, m->gso_size);
  wr16(rec + 8, m->csum_start);
  wr16(rec + 10, m->csum_offset);
  wr16(rec + 12, 0); /* port: the rx stage stamps its interface index */
  wr16(rec + 14, 0);
  wr16(rec + 16, 0);
  return rec + RECORD_HEADER_BYTES;
}

/*
 * The consumer's next record at *pos (stepping over a wrap marker, which moves *pos), or NULL at `tail`.
 * Sets *malformed when the bytes cannot be a record the producer wrote.
 */
static const uint8_t *ring_next_record(const frame_ring *r, uint32_t *pos, uint32_t tail, const char **malformed) {
  if (*pos == tail) return NULL;
  uint32_t off = *pos & (r->capacity - 1);
  uint32_t len = rd32(r->data + off);
  if (len == RECORD_WRAP) {
    *pos += r->capacity - off;
    if ((uint32_t)(tail - *pos) > r->capacity) { *malformed = "wrap marker runs past the tail"; return NULL; }
    if (*pos == tail) return NULL;
    off = 0;
    len = rd32(r->data);
    if (len == RECORD_WRAP) { *malformed = "two wrap markers in a row"; return NULL; }
  }
  uint32_t need = record_bytes(len);
  if (len > r->capacity / 2 - RECORD_HEADER_BYTES || off + need > r->capacity || (uint32_t)(tail - *pos) < need) {
    *malformed = "record length runs past the tail or the end of the data region";
    return NULL;
  }
  return r->data + off;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Offload state: virtio_net_hdr (PACKET_VNET_HDR, IFF_VNET_HDR) and tpacket status <-> record flags.          */

#define VNET_HDR_BYTES ((uint32_t)sizeof(struct virtio_net_hdr))

static record_meta meta_from_vnet(const void *at) {
  struct virtio_net_hdr header; /* may sit unaligned in front of the frame */
  const struct virtio_net_hdr *vh = &header;
  memcpy(&header, at, sizeof(header));
  record_meta m = {0, 0, 0, 0};
  if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
    m.flags |= FRAME_CSUM_PARTIAL;
    m.csum_start = vh->csum_start;
    m.csum_offset = vh->csum_offset;
  }
  if (vh->flags & VIRTIO_NET_HDR_F_DATA_VALID) m.flags |= FRAME_CSUM_VALID;
  /* Only TCPv4 super-frames have a record flag; others (TCPv6, UDP) arrive as one large frame without GSO state. */
  if ((vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_TCPV4) {
    m.flags |= FRAME_GSO_TCPV4;
    m.gso_size = vh->gso_size;
  }
  return m;
}

/*
 * Without vnet headers the kernel still says whether it verified the checksum or never computed it (a frame from
 * a local sender, CHECKSUM_PARTIAL): either way the bytes were not damaged on a wire, so the stack may trust them.
 */
static record_meta meta_from_tp_status(uint32_t status) {
  record_meta m = {0, 0, 0, 0};
  if (status & (TP_STATUS_CSUMNOTREADY | TP_STATUS_CSUM_VALID)) m.flags = FRAME_CSUM_VALID;
  return m;
}

static void vnet_from_record(const uint8_t *rec, struct virtio_net_hdr *vh) {
  uint32_t len = rd32(rec);
  uint16_t flags = rd16(rec + 4);
  const uint8_t *frame = rec + RECORD_HEADER_BYTES;
  memset(vh, 0, sizeof(*vh));
  if (flags & FRAME_CSUM_PARTIAL) {
    vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    vh->csum_start = rd16(rec + 8);
    vh->csum_offset = rd16(rec + 10);
    vh->hdr_len = (uint16_t)(vh->csum_start + vh->csum_offset + 2);
  }
  if (flags & FRAME_GSO_TCPV4) {
    vh->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    vh->gso_size = rd16(rec + 6);
    /* hdr_len = every header byte in front of the payload: csum_start is the TCP header, its data offset ends it. */
    uint32_t tcp = rd16(rec + 8);
    if (tcp + 13 <= len) vh->hdr_len = (uint16_t)(tcp + ((frame[tcp + 12] >> 4) * 4u));
  }
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Device handles.                                                                                               */

typedef enum { HANDLE_PACKET = 1, HANDLE_TAP = 2 } handle_kind;
typedef enum { RX_RECVMMSG = 0, RX_RING_V2 = 2, RX_RING_V3 = 3 } rx_mode;

#define RECV_BATCH 32u
#define SEND_BATCH 64u

typedef struct {
  struct virtio_net_hdr vnet;
  struct sockaddr_ll addr;
  union {
    char buf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
    struct cmsghdr align;
  } control;
  struct iovec iov[2];
} recv_slot;

typedef struct {
  double rx_frames, rx_bytes, rx_truncated, rx_oversize, rx_errors, rx_kernel_drops;
  double tx_frames, tx_bytes, tx_errors, tx_dropped;
  int last_rx_errno, last_tx_errno;
} handle_counters;

/* A TPACKET_V2 receive ring handed to JavaScript as an external ArrayBuffer (packetRxRing): the mapping outlives
 * the socket until the last ArrayBuffer over it is collected. refs: one for the open handle, one per ArrayBuffer. */
typedef struct {
  uint8_t *addr;
  size_t bytes;
  int refs;
} ring_export;

static void ring_export_unref(ring_export *e) {
  if (--e->refs > 0) return;
  munmap(e->addr, e->bytes);
  free(e);
}

typedef struct {
  handle_kind kind;
  rx_mode rx;
  bool vnet;
  bool receives; /* false: a transmit-only packet socket, bound to protocol 0 so the kernel queues nothing to it */
  bool owns_fd;  /* false for tapAttach: the fd belongs to whoever opened the TAP */
  bool closed;
  int fd;
  int ifindex;
  char name[IFNAMSIZ];
  /* PACKET_RX_RING mapping */
  uint8_t *ring;
  size_t ring_bytes;
  uint32_t frame_size, frame_count, frame_index;              /* TPACKET_V2 */
  uint32_t block_size, block_count, block_index, block_done;  /* TPACKET_V3 */
  uint8_t *block_next;
  ring_export *ring_export; /* set once the ring was handed to JavaScript; it then owns the mapping with us */
  /* recvmmsg and TAP: kernel -> scratch -> ring, so a frame is taken from the kernel only when it surely fits */
  uint32_t slot_size, slot_count;
  uint8_t *slot_frames;
  recv_slot *slots;
  struct mmsghdr *msgs;
  handle_counters c;
} native_handle;

static const napi_type_tag HANDLE_TAG = {0x72696e67737461ULL, 0x636b2d6e61746976ULL};

static void handle_release(native_handle *h) {
  if (h->closed) return;
  h->closed = true;
  if (h->ring_export) {
    /* JavaScript may still read the ring: swap the socket's pages for zeroed ones (every frame then reads as the
     * kernel's, so a reader sees an empty ring), and let the last ArrayBuffer unmap them. */
    if (h->ring_export->refs > 1)
      mmap(h->ring, h->ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    ring_export_unref(h->ring_export);
    h->ring_export = NULL;
  } else if (h->ring) {
    munmap(h->ring, h->ring_bytes);
  }
  if (h->fd >= 0 && h->owns_fd) close(h->fd);
  free(h->slot_frames);
  free(h->slots);
  free(h->msgs);
  h->ring = NULL;
  h->slot_frames = NULL;
  h->slots = NULL;
  h->msgs = NULL;
  h->fd = -1;
}

static void handle_finalize(napi_env env, void *data, void *hint) {
  native_handle *h = data;
  handle_release(h);
  free(h);
}

static bool alloc_slots(native_handle *h, uint32_t slot_size, uint32_t slot_count) {
  h->slot_size = slot_size;
  h->slot_count = slot_count;
  h->slot_frames = aligned_alloc(64, (size_t)slot_size * slot_count);
  h->slots = calloc(slot_count, sizeof(recv_slot));
  h->msgs = calloc(slot_count, sizeof(struct mmsghdr));
  return h->slot_frames && h->slots && h->msgs;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Node-API helpers.                                                                                             */

static napi_value throw_errno(napi_env env, const char *context, int err) {
  char msg[1280];
  snprintf(msg, sizeof(msg), "%s: %s", context, strerror(err));
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *code = strerrorname_np(err);
#else
  const char *code = NULL;
#endif
  napi_throw_error(env, code, msg);
  return NULL;
}

__attribute__((format(printf, 2, 3))) static napi_value throw_msg(napi_env env, const char *fmt, ...) {
  char msg[512];
  va_list args;
  va_start(args, fmt);
  vsnprintf(msg, sizeof(msg), fmt, args);
  va_end(args);
  napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
  return NULL;
}

#define CHECK(call)                                                                                             \
  do {                                                                                                          \
    if ((call) != napi_ok) return NULL;                                                                         \
  } while (0)

static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  napi_value undef;
  napi_get_undefined(env, &undef);
  for (size_t i = argc; i < want; i++) argv[i] = undef;
  return true;
}

static bool is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && (t == napi_undefined || t == napi_null);
}

/* Copies a string argument into buf; false (with a TypeError thrown) when it is not a string or too long. */
static bool get_string(napi_env env, napi_value v, char *buf, size_t size, const char *what) {
  napi_valuetype t;
  size_t len = 0;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) {
    throw_msg(env, "%s must be a string", what);
    return false;
  }
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return false;
  if (len == 0 || len >= size) {
    throw_msg(env, "%s must be 1-%zu bytes long", what, size - 1);
    return false;
  }
  return napi_get_value_string_utf8(env, v, buf, size, &len) == napi_ok;
}

static bool get_int(napi_env env, napi_value v, int32_t *out, const char *what) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) {
    throw_msg(env, "%s must be a number", what);
    return false;
  }
  return napi_get_value_int32(env, v, out) == napi_ok;
}

/* An optional numeric option in [min, max]; `fallback` when the property is absent. */
static bool get_option_u32(napi_env env, napi_value options, const char *name, uint32_t fallback, uint32_t min,
                           uint32_t max, uint32_t *out) {
  *out = fallback;
  if (is_nullish(env, options)) return true;
  napi_value v;
  if (napi_get_named_property(env, options, name, &v) != napi_ok) return false;
  if (is_nullish(env, v)) return true;
  int32_t n;
  if (!get_int(env, v, &n, name)) return false;
  if (n < 0 || (uint32_t)n < min || (uint32_t)n > max) {
    throw_msg(env, "option %s is out of range [%u, %u]", name, min, max);
    return false;
  }
  *out = (uint32_t)n;
  return true;
}

static bool get_option_bool(napi_env env, napi_value options, const char *name, bool fallback, bool *out) {
  *out = fallback;
  if (is_nullish(env, options)) return true;
  napi_value v;
  if (napi_get_named_property(env, options, name, &v) != napi_ok) return false;
  if (is_nullish(env, v)) return true;
  return napi_get_value_bool(env, v, out) == napi_ok || (throw_msg(env, "option %s must be a boolean", name), false);
}

static native_handle *get_handle(napi_env env, napi_value v) {
  bool tagged = false;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_check_object_type_tag(env, v, &HANDLE_TAG, &tagged) != napi_ok || !tagged) {
    throw_msg(env, "expected a handle from packetOpen or tapOpen");
    return NULL;
  }
  native_handle *h;
  if (napi_get_value_external(env, v, (void **)&h) != napi_ok) return NULL;
  if (h->closed) {
    napi_throw_error(env, "ERR_RINGSTACK_CLOSED", "the device handle is closed");
    return NULL;
  }
  return h;
}

/* A Uint8Array over a whole frame ring (SharedArrayBuffer or ArrayBuffer), checked against its control block. */
static bool get_frame_ring(napi_env env, napi_value v, frame_ring *r) {
  bool is_typed;
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, v, &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    throw_msg(env, "ring must be the Uint8Array over a frame ring's buffer (FrameRing.bytes)");
    return false;
  }
  uint8_t *base = data;
  if (length < RING_CONTROL_BYTES || ((uintptr_t)base & 7) != 0 || rd32(base) != RING_MAGIC ||
      rd32(base + 4) != RING_KIND_FRAME) {
    throw_msg(env, "ring is not a frame ring (bad magic, kind or alignment)");
    return false;
  }
  uint32_t capacity = rd32(base + 8);
  if (capacity < 4096 || (capacity & (capacity - 1)) != 0 || RING_CONTROL_BYTES + (size_t)capacity > length) {
    throw_msg(env, "frame ring capacity does not match its buffer");
    return false;
  }
  r->data = base + RING_CONTROL_BYTES;
  r->capacity = capacity;
  return true;
}

/* The cursor: a Uint32Array [own position (in/out), the other side's position]. */
static uint32_t *get_cursor(napi_env env, napi_value v, const frame_ring *r) {
  bool is_typed;
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, v, &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint32_array ||
      length < 2) {
    throw_msg(env, "cursor must be a Uint32Array [position, other side's position]");
    return NULL;
  }
  return data;
}

static napi_value make_number(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

static void set_number(napi_env env, napi_value obj, const char *name, double v) {
  napi_set_named_property(env, obj, name, make_number(env, v));
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Network namespaces: enter on the calling thread only, create the socket, come back.                           */

static int netns_enter(const char *path, int *saved_fd, const char **step) {
  *saved_fd = -1;
  if (!path) return 0;
  *step = "open network namespace";
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) return errno;
  int saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (saved < 0) {
    int err = errno;
    close(target);
    return err;
  }
  *step = "setns into network namespace";
  if (setns(target, CLONE_NEWNET) != 0) {
    int err = errno;
    close(target);
    close(saved);
    return err;
  }
  close(target);
  *saved_fd = saved;
  return 0;
}

static void netns_leave(int saved_fd) {
  if (saved_fd < 0) return;
  /* A thread stranded in another namespace would open its later sockets there: stop rather than go on wrong. */
  if (setns(saved_fd, CLONE_NEWNET) != 0)
    napi_fatal_error("ringstack_native", NAPI_AUTO_LENGTH, "cannot return to the thread's network namespace",
                     NAPI_AUTO_LENGTH);
  close(saved_fd);
}

static bool get_netns(napi_env env, napi_value v, char *buf, size_t size, const char **path) {
  *path = NULL;
  if (is_nullish(env, v)) return true;
  if (!get_string(env, v, buf, size, "netns")) return false;
  *path = buf;
  return true;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* packetOpen(ifname, netns | null, options) -> handle                                                          */

static int setsockopt_int(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof(value));
}

static int packet_setup(native_handle *h, const char *ifname, uint32_t socket_buffer, bool qdisc_bypass,
                        uint32_t retire_ms, const char **step) {
  *step = "if_nametoindex";
  h->ifindex = (int)if_nametoindex(ifname);
  if (h->ifindex == 0) return errno;
  /* Protocol 0 until bind: nothing queues before the ring and options are in place. */
  *step = "socket(AF_PACKET)";
  h->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (h->fd < 0) return errno;
  if (h->receives && h->rx != RX_RECVMMSG) {
    *step = "PACKET_VERSION";
    if (setsockopt_int(h->fd, SOL_PACKET, PACKET_VERSION, h->rx == RX_RING_V3 ? TPACKET_V3 : TPACKET_V2)) return errno;
  }
  if (h->vnet) {
    *step = "PACKET_VNET_HDR";
    if (setsockopt_int(h->fd, SOL_PACKET, PACKET_VNET_HDR, 1)) return errno;
  } else if (h->receives && h->rx == RX_RECVMMSG) {
    *step = "PACKET_AUXDATA";
    if (setsockopt_int(h->fd, SOL_PACKET, PACKET_AUXDATA, 1)) return errno;
  }
  /* Our own transmissions would otherwise come straight back to us (kernels before 4.20 lack it: filtered below). */
  setsockopt_int(h->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1);
  if (qdisc_bypass) {
    *step = "PACKET_QDISC_BYPASS";
    if (setsockopt_int(h->fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1)) return errno;
  }
  if (setsockopt_int(h->fd, SOL_SOCKET, SO_SNDBUFFORCE, (int)socket_buffer))
    setsockopt_int(h->fd, SOL_SOCKET, SO_SNDBUF, (int)socket_buffer);
  if (h->receives && h->rx == RX_RECVMMSG && setsockopt_int(h->fd, SOL_SOCKET, SO_RCVBUFFORCE, (int)socket_buffer))
    setsockopt_int(h->fd, SOL_SOCKET, SO_RCVBUF, (int)socket_buffer);

  if (!h->receives) {
    /* no receive path at all */
  } else if (h->rx == RX_RING_V2) {
    /* Blocks of at least 64 KiB (one kernel allocation each), holding whole frames. */
    struct tpacket_req req;
    uint32_t block = h->frame_size > 65536 ? h->frame_size : 65536;
    uint32_t per_block = block / h->frame_size;
    req.tp_block_size = block;
    req.tp_block_nr = (h->frame_count + per_block - 1) / per_block;
    req.tp_frame_size = h->frame_size;
    req.tp_frame_nr = req.tp_block_nr * per_block;
    h->frame_count = req.tp_frame_nr;
    h->ring_bytes = (size_t)block * req.tp_block_nr;
    *step = "PACKET_RX_RING (TPACKET_V2)";
    if (setsockopt(h->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req))) return errno;
  } else if (h->rx == RX_RING_V3) {
    struct tpacket_req3 req;
    memset(&req, 0, sizeof(req));
    req.tp_block_size = h->block_size;
    req.tp_block_nr = h->block_count;
    req.tp_frame_size = h->block_size;
    req.tp_frame_nr = h->block_count;
    req.tp_retire_blk_tov = retire_ms;
    h->ring_bytes = (size_t)h->block_size * h->block_count;
    *step = "PACKET_RX_RING (TPACKET_V3)";
    if (setsockopt(h->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req))) return errno;
  }
  if (h->receives && h->rx != RX_RECVMMSG) {
    *step = "mmap rx ring";
    void *ring = mmap(NULL, h->ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, h->fd, 0);
    if (ring == MAP_FAILED) return errno;
    h->ring = ring;
  }
  struct sockaddr_ll addr;
  memset(&addr, 0, sizeof(addr));
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = h->receives ? htons(ETH_P_ALL) : 0;
  addr.sll_ifindex = h->ifindex;
  *step = "bind";
  if (bind(h->fd, (struct sockaddr *)&addr, sizeof(addr))) return errno;
  return 0;
}

static napi_value wrap_handle(napi_env env, native_handle *h) {
  napi_value external;
  if (napi_create_external(env, h, handle_finalize, NULL, &external) != napi_ok) {
    handle_release(h);
    free(h);
    return NULL;
  }
  napi_type_tag_object(env, external, &HANDLE_TAG);
  return external;
}

static native_handle *handle_new(handle_kind kind) {
  native_handle *h = calloc(1, sizeof(native_handle));
  if (h) {
    h->kind = kind;
    h->fd = -1;
    h->owns_fd = true;
    h->receives = true;
  }
  return h;
}

static napi_value packet_open(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char ifname[IFNAMSIZ], netns_buf[512];
  const char *netns, *step = "";
  if (!get_args(env, info, 3, argv) || !get_string(env, argv[0], ifname, sizeof(ifname), "ifname") ||
      !get_netns(env, argv[1], netns_buf, sizeof(netns_buf), &netns))
    return NULL;
  uint32_t rx, frame_size, frame_count, block_size, block_count, retire_ms, socket_buffer;
  bool vnet, qdisc_bypass, receives;
  if (!get_option_bool(env, argv[2], "vnetHdr", false, &vnet) ||
      !get_option_bool(env, argv[2], "receive", true, &receives) ||
      !get_option_bool(env, argv[2], "qdiscBypass", true, &qdisc_bypass) ||
      !get_option_u32(env, argv[2], "rxMode", RX_RING_V2, 0, 3, &rx) ||
      !get_option_u32(env, argv[2], "frameSize", 65536, 2048, 1u << 20, &frame_size) ||
      !get_option_u32(env, argv[2], "frameCount", 256, 8, 1u << 16, &frame_count) ||
      !get_option_u32(env, argv[2], "blockSize", 1u << 18, 1u << 16, 1u << 24, &block_size) ||
      !get_option_u32(env, argv[2], "blockCount", 64, 2, 4096, &block_count) ||
      !get_option_u32(env, argv[2], "retireMs", 1, 1, 1000, &retire_ms) ||
      !get_option_u32(env, argv[2], "socketBuffer", 4u << 20, 65536, 1u << 30, &socket_buffer))
    return NULL;
  if (rx == 1) return throw_msg(env, "option rxMode must be 0 (recvmmsg), 2 (TPACKET_V2) or 3 (TPACKET_V3)");
  if ((frame_size & (frame_size - 1)) || (block_size & (block_size - 1)))
    return throw_msg(env, "options frameSize and blockSize must be powers of two");

  native_handle *h = handle_new(HANDLE_PACKET);
  if (!h) return throw_errno(env, "packetOpen", ENOMEM);
  h->rx = (rx_mode)rx;
  h->vnet = vnet;
  h->receives = receives;
  h->frame_size = frame_size;
  h->frame_count = frame_count;
  h->block_size = block_size;
  h->block_count = block_count;
  snprintf(h->name, sizeof(h->name), "%s", ifname);
  if (receives && h->rx == RX_RECVMMSG && !alloc_slots(h, frame_size, RECV_BATCH)) {
    handle_release(h);
    free(h);
    return throw_errno(env, "packetOpen: receive buffers", ENOMEM);
  }

  int saved_ns, err = netns_enter(netns, &saved_ns, &step);
  if (!err) {
    err = packet_setup(h, ifname, socket_buffer, qdisc_bypass, retire_ms, &step);
    netns_leave(saved_ns);
  }
  if (err) {
    char context[1024];
    snprintf(context, sizeof(context), "packetOpen(%s%s%s): %s", ifname, netns ? " in " : "", netns ? netns : "",
             step);
    handle_release(h);
    free(h);
    return throw_errno(env, context, err);
  }
  return wrap_handle(env, h);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* tapOpen(name, netns | null, options) -> handle                                                               */

static int tap_setup(native_handle *h, const char *name, const char **step) {
  *step = "open /dev/net/tun";
  h->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (h->fd < 0) return errno;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (h->vnet ? IFF_VNET_HDR : 0);
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
  *step = "TUNSETIFF";
  if (ioctl(h->fd, TUNSETIFF, &ifr)) return errno;
  snprintf(h->name, sizeof(h->name), "%s", ifr.ifr_name);
  if (h->vnet) {
    int size = (int)VNET_HDR_BYTES;
    *step = "TUNSETVNETHDRSZ";
    if (ioctl(h->fd, TUNSETVNETHDRSZ, &size)) return errno;
    /* Frames towards us may keep partial checksums and be TCPv4 super-frames; no TSO6: records have no TCPv6 GSO. */
    *step = "TUNSETOFFLOAD";
    if (ioctl(h->fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4))) return errno;
  } else {
    /* Offloads outlive their opener on a persistent TAP: after a vnet-header run the kernel would go on handing
     * us partial checksums we cannot tell apart from corrupt ones. Without vnet headers, ask for finished frames. */
    *step = "TUNSETOFFLOAD";
    if (ioctl(h->fd, TUNSETOFFLOAD, 0UL)) return errno;
  }
  h->ifindex = (int)if_nametoindex(h->name);
  return 0;
}

static napi_value tap_open(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char name[IFNAMSIZ], netns_buf[512];
  const char *netns, *step = "";
  if (!get_args(env, info, 3, argv) || !get_string(env, argv[0], name, sizeof(name), "name") ||
      !get_netns(env, argv[1], netns_buf, sizeof(netns_buf), &netns))
    return NULL;
  bool vnet;
  uint32_t frame_size;
  if (!get_option_bool(env, argv[2], "vnetHdr", false, &vnet) ||
      !get_option_u32(env, argv[2], "frameSize", 65536 + 256, 1600, 1u << 20, &frame_size))
    return NULL;
  native_handle *h = handle_new(HANDLE_TAP);
  if (!h) return throw_errno(env, "tapOpen", ENOMEM);
  h->vnet = vnet;
  h->rx = RX_RECVMMSG;
  if (!alloc_slots(h, frame_size, 1)) {
    handle_release(h);
    free(h);
    return throw_errno(env, "tapOpen: receive buffer", ENOMEM);
  }
  int saved_ns, err = netns_enter(netns, &saved_ns, &step);
  if (!err) {
    err = tap_setup(h, name, &step);
    netns_leave(saved_ns);
  }
  if (err) {
    char context[1024];
    snprintf(context, sizeof(context), "tapOpen(%s%s%s): %s", name, netns ? " in " : "", netns ? netns : "", step);
    handle_release(h);
    free(h);
    return throw_errno(env, context, err);
  }
  return wrap_handle(env, h);
}

/*
 * tapAttach(fd) -> handle over a TAP fd someone else opened (and will close): a single-queue TAP device has one
 * fd, which the rx and tx stages of one stack share when they run in different threads. Its name and vnet-header
 * setting come from the fd itself (TUNGETIFF).
 */
static napi_value tap_attach(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  uint32_t frame_size;
  if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], &fd, "fd") ||
      !get_option_u32(env, argv[1], "frameSize", 65536 + 256, 1600, 1u << 20, &frame_size))
    return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  if (ioctl(fd, TUNGETIFF, &ifr)) return throw_errno(env, "tapAttach: TUNGETIFF (not an attached TAP fd?)", errno);
  if ((ifr.ifr_flags & (IFF_TAP | IFF_NO_PI)) != (IFF_TAP | IFF_NO_PI))
    return throw_msg(env, "tapAttach: fd %d is not a TAP device opened with IFF_NO_PI", fd);
  native_handle *h = handle_new(HANDLE_TAP);
  if (!h) return throw_errno(env, "tapAttach", ENOMEM);
  h->owns_fd = false;
  h->fd = fd;
  h->vnet = (ifr.ifr_flags & IFF_VNET_HDR) != 0;
  h->rx = RX_RECVMMSG;
  snprintf(h->name, sizeof(h->name), "%s", ifr.ifr_name);
  h->ifindex = (int)if_nametoindex(h->name);
  if (!alloc_slots(h, frame_size, 1)) {
    handle_release(h);
    free(h);
    return throw_errno(env, "tapAttach: receive buffer", ENOMEM);
  }
  return wrap_handle(env, h);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Receive: kernel -> frame ring.                                                                                */

typedef enum { DELIVERED, SKIPPED, NO_ROOM } deliver_result;

static deliver_result deliver_frame(native_handle *h, const frame_ring *r, uint32_t *pos, uint32_t head,
                                    const uint8_t *frame, uint32_t len, uint32_t wire_len, const record_meta *m) {
  if (len < wire_len) {
    h->c.rx_truncated++;
    return SKIPPED;
  }
  uint32_t at;
  if (len > r->capacity / 2 - RECORD_HEADER_BYTES) { /* FrameRing.maxFrameBytes: larger may never fit */
    h->c.rx_oversize++;
    return SKIPPED;
  }
  if (!ring_place(r, *pos, head, len, &at)) {
    /* An empty ring that still cannot take it never will: drop rather than wedge the link. */
    if (*pos == head) {
      h->c.rx_oversize++;
      return SKIPPED;
    }
    return NO_ROOM;
  }
  memcpy(ring_write_header(r, *pos, at, len, m), frame, len);
  *pos = at + record_bytes(len);
  h->c.rx_frames++;
  h->c.rx_bytes += len;
  return DELIVERED;
}

static uint32_t receive_ring_v2(native_handle *h, const frame_ring *r, uint32_t *pos, uint32_t head, uint32_t max) {
  uint32_t n = 0;
  while (n < max) {
    struct tpacket2_hdr *tp = (void *)(h->ring + (size_t)h->frame_index * h->frame_size);
    uint32_t status = __atomic_load_n(&tp->tp_status, __ATOMIC_ACQUIRE);
    if (!(status & TP_STATUS_USER)) break;
    const struct sockaddr_ll *sll = (const void *)((uint8_t *)tp + TPACKET_ALIGN(sizeof(*tp)));
    const uint8_t *frame = (uint8_t *)tp + tp->tp_mac;
    if (sll->sll_pkttype != PACKET_OUTGOING) {
      record_meta m = h->vnet ? meta_from_vnet((const void *)(frame - VNET_HDR_BYTES)) : meta_from_tp_status(status);
      deliver_result d = deliver_frame(h, r, pos, head, frame, tp->tp_snaplen, tp->tp_len, &m);
      if (d == NO_ROOM) break;
      if (d == DELIVERED) n++;
    }
    __atomic_store_n(&tp->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    h->frame_index = h->frame_index + 1 == h->frame_count ? 0 : h->frame_index + 1;
  }
  return n;
}

static uint32_t receive_ring_v3(native_handle *h, const frame_ring *r, uint32_t *pos, uint32_t head, uint32_t max) {
  uint32_t n = 0;
  while (n < max) {
    struct tpacket_block_desc *block = (void *)(h->ring + (size_t)h->block_index * h->block_size);
    if (!(__atomic_load_n(&block->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) break;
    uint32_t packets = block->hdr.bh1.num_pkts;
    if (h->block_done == 0) h->block_next = (uint8_t *)block + block->hdr.bh1.offset_to_first_pkt;
    bool stopped = false;
    while (h->block_done < packets) {
      if (n >= max) {
        stopped = true;
        break;
      }
      struct tpacket3_hdr *tp = (void *)h->block_next;
      const struct sockaddr_ll *sll = (const void *)((uint8_t *)tp + TPACKET_ALIGN(sizeof(*tp)));
      const uint8_t *frame = (uint8_t *)tp + tp->tp_mac;
      if (sll->sll_pkttype != PACKET_OUTGOING) {
        record_meta m =
            h->vnet ? meta_from_vnet((const void *)(frame - VNET_HDR_BYTES)) : meta_from_tp_status(tp->tp_status);
        deliver_result d = deliver_frame(h, r, pos, head, frame, tp->tp_snaplen, tp->tp_len, &m);
        if (d == NO_ROOM) {
          stopped = true;
          break;
        }
        if (d == DELIVERED) n++;
      }
      h->block_next += tp->tp_next_offset;
      h->block_done++;
    }
    if (stopped) break;
    __atomic_store_n(&block->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    h->block_index = h->block_index + 1 == h->block_count ? 0 : h->block_index + 1;
    h->block_done = 0;
  }
  return n;
}

/* How many frames of the largest size the ring takes from `pos` on (at most `want`). */
static uint32_t frames_that_fit(const frame_ring *r, uint32_t pos, uint32_t head, uint32_t frame_size, uint32_t want) {
  uint32_t fit = 0, at;
  while (fit < want && ring_place(r, pos, head, frame_size, &at)) {
    pos = at + record_bytes(frame_size);
    fit++;
  }
  return fit;
}

static bool io_would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

static uint32_t receive_recvmmsg(native_handle *h, const frame_ring *r, uint32_t *pos, uint32_t head, uint32_t max) {
  uint32_t n = 0;
  while (n < max) {
    /* Take from the kernel only what surely fits: a frame once read cannot be handed back. */
    uint32_t want = frames_that_fit(r, *pos, head, h->slot_size, max - n < h->slot_count ? max - n : h->slot_count);
    if (want == 0) break;
    for (uint32_t i = 0; i < want; i++) {
      recv_slot *s = &h->slots[i];
      s->iov[0].iov_base = &s->vnet;
      s->iov[0].iov_len = VNET_HDR_BYTES;
      s->iov[1].iov_base = h->slot_frames + (size_t)i * h->slot_size;
      s->iov[1].iov_len = h->slot_size;
      struct msghdr *m = &h->msgs[i].msg_hdr;
      memset(m, 0, sizeof(*m));
      m->msg_name = &s->addr;
      m->msg_namelen = sizeof(s->addr);
      m->msg_iov = h->vnet ? s->iov : s->iov + 1;
      m->msg_iovlen = h->vnet ? 2 : 1;
      if (!h->vnet) {
        m->msg_control = s->control.buf;
        m->msg_controllen = sizeof(s->control.buf);
      }
    }
    int got = recvmmsg(h->fd, h->msgs, want, MSG_DONTWAIT | MSG_TRUNC, NULL);
    if (got <= 0) {
      if (got < 0 && !io_would_block(errno)) {
        h->c.rx_errors++;
        h->c.last_rx_errno = errno;
      }
      break;
    }
    for (int i = 0; i < got; i++) {
      recv_slot *s = &h->slots[i];
      struct msghdr *m = &h->msgs[i].msg_hdr;
      uint32_t total = h->msgs[i].msg_len, header = h->vnet ? VNET_HDR_BYTES : 0;
      if (s->addr.sll_pkttype == PACKET_OUTGOING || total < header) continue;
      uint32_t wire_len = total - header, len = wire_len < h->slot_size ? wire_len : h->slot_size;
      record_meta meta;
      if (h->vnet) {
        meta = meta_from_vnet(&s->vnet);
      } else {
        uint32_t status = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c))
          if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA)
            status = ((const struct tpacket_auxdata *)CMSG_DATA(c))->tp_status;
        meta = meta_from_tp_status(status);
      }
      if (deliver_frame(h, r, pos, head, s->iov[1].iov_base, len, wire_len, &meta) == DELIVERED) n++;
    }
    if ((uint32_t)got < want) break;
  }
  return n;
}

static uint32_t receive_tap(native_handle *h, const frame_ring *r, uint32_t *pos, uint32_t head, uint32_t max) {
  uint32_t n = 0;
  recv_slot *s = &h->slots[0];
  s->iov[0].iov_base = &s->vnet;
  s->iov[0].iov_len = VNET_HDR_BYTES;
  s->iov[1].iov_base = h->slot_frames;
  s->iov[1].iov_len = h->slot_size;
  while (n < max && frames_that_fit(r, *pos, head, h->slot_size, 1) == 1) {
    ssize_t got = readv(h->fd, h->vnet ? s->iov : s->iov + 1, h->vnet ? 2 : 1);
    if (got < 0) {
      if (!io_would_block(errno)) {
        h->c.rx_errors++;
        h->c.last_rx_errno = errno;
      }
      break;
    }
    uint32_t header = h->vnet ? VNET_HDR_BYTES : 0;
    if ((uint32_t)got < header) continue;
    /* tun reports the whole frame length even when the buffer was shorter. */
    uint32_t wire_len = (uint32_t)got - header, len = wire_len < h->slot_size ? wire_len : h->slot_size;
    record_meta meta = h->vnet ? meta_from_vnet(&s->vnet) : (record_meta){0, 0, 0, 0};
    if (deliver_frame(h, r, pos, head, h->slot_frames, len, wire_len, &meta) == DELIVERED) n++;
  }
  return n;
}

/* receiveFrames(handle, ringBytes, cursor [tail in/out, head], maxFrames[, maxBytes]) -> frames written; maxBytes
 * bounds the ring bytes (records) written, so a batch of 64 KiB super-frames stays as short as a batch of small ones. */
static napi_value receive_frames(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  frame_ring r;
  int32_t max, max_bytes = INT32_MAX;
  if (!get_args(env, info, 5, argv)) return NULL;
  native_handle *h = get_handle(env, argv[0]);
  if (!h || !get_frame_ring(env, argv[1], &r)) return NULL;
  uint32_t *cursor = get_cursor(env, argv[2], &r);
  if (!cursor || !get_int(env, argv[3], &max, "maxFrames")) return NULL;
  if (!is_nullish(env, argv[4]) && !get_int(env, argv[4], &max_bytes, "maxBytes")) return NULL;
  uint32_t pos = cursor[0], head = cursor[1];
  if ((uint32_t)(pos - head) > r.capacity)
    return throw_msg(env, "cursor [tail, head] is not a valid producer view of the ring");
  /* A byte budget is a smaller ring as the receivers see it: they stop where the next frame would not fit. */
  if (max_bytes >= 0 && (uint32_t)max_bytes < r.capacity - (pos - head)) head = pos + (uint32_t)max_bytes - r.capacity;
  uint32_t n = 0;
  if (max > 0 && h->receives) {
    if (h->kind == HANDLE_TAP)
      n = receive_tap(h, &r, &pos, head, (uint32_t)max);
    else if (h->rx == RX_RING_V2)
      n = receive_ring_v2(h, &r, &pos, head, (uint32_t)max);
    else if (h->rx == RX_RING_V3)
      n = receive_ring_v3(h, &r, &pos, head, (uint32_t)max);
    else
      n = receive_recvmmsg(h, &r, &pos, head, (uint32_t)max);
  }
  cursor[0] = pos;
  return make_number(env, n);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Transmit: frame ring -> kernel.                                                                               */

static void count_tx_failure(native_handle *h, int err) {
  /* ENOBUFS: the device dropped it (qdisc bypass, queue full) as a wire would; anything else: the kernel refused it. */
  if (err == ENOBUFS)
    h->c.tx_dropped++;
  else
    h->c.tx_errors++;
  h->c.last_tx_errno = err;
}

static uint32_t transmit_sendmmsg(native_handle *h, const frame_ring *r, uint32_t *pos, uint32_t tail, uint32_t max,
                                  const char **malformed) {
  struct mmsghdr msgs[SEND_BATCH];
  struct iovec iov[SEND_BATCH][2];
  struct virtio_net_hdr vnet[SEND_BATCH];
  uint32_t after[SEND_BATCH], length[SEND_BATCH];
  uint32_t n = 0;
  while (n < max) {
    uint32_t k = 0, p = *pos;
    while (k < SEND_BATCH && n + k < max) {
      const uint8_t *rec = ring_next_record(r, &p, tail, malformed);
      if (!rec) break;
      uint32_t len = rd32(rec);
      if (h->vnet) vnet_from_record(rec, &vnet[k]);
      iov[k][0].iov_base = &vnet[k];
      iov[k][0].iov_len = VNET_HDR_BYTES;
      iov[k][1].iov_base = (void *)(rec + RECORD_HEADER_BYTES);
      iov[k][1].iov_len = len;
      memset(&msgs[k], 0, sizeof(msgs[k]));
      msgs[k].msg_hdr.msg_iov = h->vnet ? iov[k] : iov[k] + 1;
      msgs[k].msg_hdr.msg_iovlen = h->vnet ? 2 : 1;
      p += record_bytes(len);
      after[k] = p;
      length[k] = len;
      k++;
    }
    if (k == 0) {
      if (!*malformed) *pos = p; /* a wrap marker right before the tail */
      break;
    }
    int sent = sendmmsg(h->fd, msgs, k, MSG_DONTWAIT);
    if (sent < 0) {
      if (io_would_block(errno)) break; /* socket buffer full: the frames wait in the ring */
      /* The kernel refuses the first frame: count it and move past, so one bad frame cannot wedge the link. */
      count_tx_failure(h, errno);
      *pos = after[0];
      n++;
      continue;
    }
    for (int i = 0; i < sent; i++) h->c.tx_bytes += length[i];
    h->c.tx_frames += sent;
    if (sent > 0) *pos = after[sent - 1];
    n += (uint32_t)sent;
    if (*malformed) break;
  }
  return n;
}

static uint32_t transmit_tap(native_handle *h, const frame_ring *r, uint32_t *pos, uint32_t tail, uint32_t max,
                             const char **malformed) {
  uint32_t n = 0;
  while (n < max) {
    uint32_t p = *pos;
    const uint8_t *rec = ring_next_record(r, &p, tail, malformed);
    if (!rec) {
      if (!*malformed) *pos = p;
      break;
    }
    uint32_t len = rd32(rec);
    struct virtio_net_hdr vnet;
    struct iovec iov[2] = {{&vnet, VNET_HDR_BYTES}, {(void *)(rec + RECORD_HEADER_BYTES), len}};
    if (h->vnet) vnet_from_record(rec, &vnet);
    ssize_t wrote = writev(h->fd, h->vnet ? iov : iov + 1, h->vnet ? 2 : 1);
    if (wrote < 0) {
      if (io_would_block(errno)) break;
      count_tx_failure(h, errno);
    } else {
      h->c.tx_frames++;
      h->c.tx_bytes += len;
    }
    *pos = p + record_bytes(len);
    n++;
  }
  return n;
}

/* transmitFrames(handle, ringBytes, cursor [head in/out, tail], maxFrames) -> frames taken from the ring */
static napi_value transmit_frames(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  frame_ring r;
  int32_t max;
  if (!get_args(env, info, 4, argv)) return NULL;
  native_handle *h = get_handle(env, argv[0]);
  if (!h || !get_frame_ring(env, argv[1], &r)) return NULL;
  uint32_t *cursor = get_cursor(env, argv[2], &r);
  if (!cursor || !get_int(env, argv[3], &max, "maxFrames")) return NULL;
  uint32_t pos = cursor[0], tail = cursor[1];
  if ((uint32_t)(tail - pos) > r.capacity)
    return throw_msg(env, "cursor [head, tail] is not a valid consumer view of the ring");
  const char *malformed = NULL;
  uint32_t n = 0;
  if (max > 0) {
    n = h->kind == HANDLE_TAP ? transmit_tap(h, &r, &pos, tail, (uint32_t)max, &malformed)
                              : transmit_sendmmsg(h, &r, &pos, tail, (uint32_t)max, &malformed);
  }
  cursor[0] = pos;
  if (malformed && n == 0) return throw_msg(env, "malformed frame ring: %s", malformed);
  return make_number(env, n);
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Handle facts, counters, close.                                                                                */

static napi_value handle_info(napi_env env, napi_callback_info info) {
  napi_value argv[1], out, name;
  if (!get_args(env, info, 1, argv)) return NULL;
  native_handle *h = get_handle(env, argv[0]);
  if (!h) return NULL;
  CHECK(napi_create_object(env, &out));
  CHECK(napi_create_string_utf8(env, h->name, NAPI_AUTO_LENGTH, &name));
  napi_set_named_property(env, out, "name", name);
  set_number(env, out, "fd", h->fd);
  set_number(env, out, "ifindex", h->ifindex);
  set_number(env, out, "rxMode", h->rx);
  set_number(env, out, "frameSize", h->kind == HANDLE_TAP || h->rx == RX_RECVMMSG ? h->slot_size
                                    : h->rx == RX_RING_V2                     ? h->frame_size
                                                                              : h->block_size);
  napi_value vnet;
  napi_get_boolean(env, h->vnet, &vnet);
  napi_set_named_property(env, out, "vnetHdr", vnet);
  napi_get_boolean(env, h->receives, &vnet);
  napi_set_named_property(env, out, "receives", vnet);
  return out;
}

static napi_value handle_counters_js(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  if (!get_args(env, info, 1, argv)) return NULL;
  native_handle *h = get_handle(env, argv[0]);
  if (!h) return NULL;
  if (h->kind == HANDLE_PACKET) {
    /* PACKET_STATISTICS resets on read: fold it into our running total. */
    struct tpacket_stats_v3 st;
    socklen_t len = sizeof(st);
    if (getsockopt(h->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) h->c.rx_kernel_drops += st.tp_drops;
  }
  CHECK(napi_create_object(env, &out));
  set_number(env, out, "rxFrames", h->c.rx_frames);
  set_number(env, out, "rxBytes", h->c.rx_bytes);
  set_number(env, out, "rxTruncated", h->c.rx_truncated);
  set_number(env, out, "rxOversize", h->c.rx_oversize);
  set_number(env, out, "rxErrors", h->c.rx_errors);
  set_number(env, out, "rxKernelDrops", h->c.rx_kernel_drops);
  set_number(env, out, "txFrames", h->c.tx_frames);
  set_number(env, out, "txBytes", h->c.tx_bytes);
  set_number(env, out, "txErrors", h->c.tx_errors);
  set_number(env, out, "txDropped", h->c.tx_dropped);
  set_number(env, out, "lastRxErrno", h->c.last_rx_errno);
  set_number(env, out, "lastTxErrno", h->c.last_tx_errno);
  return out;
}

static napi_value close_handle(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  bool tagged = false;
  native_handle *h;
  if (napi_check_object_type_tag(env, argv[0], &HANDLE_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, argv[0], (void **)&h) != napi_ok)
    return throw_msg(env, "expected a handle from packetOpen or tapOpen");
  handle_release(h); /* closing twice is harmless */
  return NULL;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Waiting: poll a device fd plus an optional eventfd another thread writes to wake us.                          */

#define POLL_DEVICE 1
#define POLL_WAKE 2

/* Reads (and so clears) a socket's pending error, such as ENETDOWN after its interface went down and up: poll(2)
 * and epoll report POLLERR until it is read, and a receive ring never reads it. False when fd is no socket. */
static bool clear_socket_error(int fd) {
  int err;
  socklen_t len = sizeof(err);
  return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0;
}

/* pollFd(fd | -1, wakeFd | -1, timeoutMs | -1) -> bits: 1 device readable (or in error), 2 woken */
static napi_value poll_fd(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd, wake_fd, timeout;
  if (!get_args(env, info, 3, argv) || !get_int(env, argv[0], &fd, "fd") ||
      !get_int(env, argv[1], &wake_fd, "wakeFd") || !get_int(env, argv[2], &timeout, "timeoutMs"))
    return NULL;
  struct pollfd p[2] = {{fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
  int ready = poll(p, 2, timeout < 0 ? -1 : timeout);
  if (ready < 0) {
    if (errno == EINTR) return make_number(env, 0);
    return throw_errno(env, "pollFd", errno);
  }
  int bits = 0;
  if (fd >= 0 && (p[0].revents & (POLLIN | POLLERR | POLLHUP))) bits |= POLL_DEVICE;
  if (fd >= 0 && (p[0].revents & POLLERR)) clear_socket_error(fd); /* or every later poll returns at once: a spin */
  if (wake_fd >= 0 && (p[1].revents & POLLIN)) {
    uint64_t value;
    if (read(wake_fd, &value, sizeof(value)) < 0 && errno != EAGAIN) return throw_errno(env, "pollFd: eventfd read", errno);
    bits |= POLL_WAKE;
  }
  if (fd >= 0 && (p[0].revents & POLLNVAL)) return throw_errno(env, "pollFd: fd", EBADF);
  if (wake_fd >= 0 && (p[1].revents & POLLNVAL)) return throw_errno(env, "pollFd: wakeFd", EBADF);
  return make_number(env, bits);
}

static napi_value eventfd_create(napi_env env, napi_callback_info info) {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return throw_errno(env, "eventfdCreate", errno);
  return make_number(env, fd);
}

static napi_value eventfd_signal(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], &fd, "fd")) return NULL;
  uint64_t one = 1;
  /* EAGAIN means the counter is already huge: the sleeper is woken anyway. */
  if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN) return throw_errno(env, "eventfdSignal", errno);
  return NULL;
}

static napi_value eventfd_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], &fd, "fd")) return NULL;
  if (close(fd) != 0) return throw_errno(env, "eventfdClose", errno);
  return NULL;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Watching a device fd on this thread's own event loop (layout inline): the thread never blocks, libuv tells it  */
/* when the fd is readable and it runs its stages then. watchFd(fd, onReadable) -> watch; unwatchFd(watch).       */
/*                                                                                                              */
/* The uv_poll_t is referenced (an open inline stack on a kernel link keeps its thread alive, as a stage worker    */
/* does) and must be stopped before the fd is closed: epoll forgets a closed fd only once unwatched. It is closed  */
/* by unwatchFd, by an async cleanup hook when the thread's environment ends (a worker exiting with the stack      */
/* still open), or when its JS object is collected. The struct is freed once the handle's close callback ran and   */
/* the JS object is gone, whichever comes last.                                                                 */

typedef struct {
  uv_poll_t poll; /* first: the close callback gets the handle */
  napi_env env;
  napi_ref callback;
  napi_async_context async_context;
  napi_async_cleanup_hook_handle cleanup_hook;
  bool stopping;       /* uv_close called */
  bool handle_closed;  /* the close callback ran */
  bool object_gone;    /* the JS object was finalized */
} fd_watch;

static const napi_type_tag WATCH_TAG = {0x72696e67737461ULL, 0x636b2d6664776174ULL};

static void fd_watch_free_if_done(fd_watch *w) {
  if (w->handle_closed && w->object_gone) free(w);
}

static void fd_watch_closed(uv_handle_t *handle) {
  fd_watch *w = (fd_watch *)handle;
  w->handle_closed = true;
  /* Tells Node the environment's cleanup (if it started it) is done; otherwise just unregisters the hook. */
  if (w->cleanup_hook) napi_remove_async_cleanup_hook(w->cleanup_hook);
  w->cleanup_hook = NULL;
  fd_watch_free_if_done(w);
}

static void fd_watch_stop(fd_watch *w) {
  if (w->stopping) return;
  w->stopping = true;
  uv_poll_stop(&w->poll); /* takes the fd out of epoll now, so the caller may close it right after */
  if (w->callback) napi_delete_reference(w->env, w->callback);
  if (w->async_context) napi_async_destroy(w->env, w->async_context);
  w->callback = NULL;
  w->async_context = NULL;
  uv_close((uv_handle_t *)&w->poll, fd_watch_closed);
}

static void fd_watch_env_ending(napi_async_cleanup_hook_handle hook, void *arg) { fd_watch_stop(arg); }

static void fd_watch_finalize(napi_env env, void *data, void *hint) {
  fd_watch *w = data;
  fd_watch_stop(w);
  w->object_gone = true;
  fd_watch_free_if_done(w);
}

static void fd_watch_ready(uv_poll_t *poll, int status, int events) {
  fd_watch *w = (fd_watch *)poll;
  if (w->stopping) return;
  /* POLLERR: libuv has stopped the watch (status UV_EBADF). On a packet socket that is a pending socket error, such
   * as ENETDOWN when the interface went down for a moment: reading SO_ERROR clears it, and we watch again, or the
   * stack would stay deaf once the link is back. Anything else (a TAP whose device is gone, a closed fd) stays
   * unwatched rather than reported on every loop turn. Either way the callback runs the stages once. */
  if (status < 0) {
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)poll, &fd) == 0 && clear_socket_error(fd))
      uv_poll_start(poll, UV_READABLE, fd_watch_ready);
    else
      uv_poll_stop(poll);
  }
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value callback, receiver, result;
  /* The receiver must be an object (napi_make_callback converts it): the global object, as for a plain call. */
  if (napi_get_reference_value(env, w->callback, &callback) == napi_ok && napi_get_global(env, &receiver) == napi_ok) {
    /* napi_make_callback, not napi_call_function: it runs the microtasks and nextTicks the callback queued, as any
     * callback from Node's own I/O does. An exception becomes an uncaught exception of this thread. */
    if (napi_make_callback(env, w->async_context, receiver, callback, 0, NULL, &result) == napi_pending_exception) {
      napi_value error;
      if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
    }
  }
  napi_close_handle_scope(env, scope);
}

static napi_value watch_fd(napi_env env, napi_callback_info info) {
  napi_value argv[2], name, external;
  int32_t fd;
  napi_valuetype type;
  if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], &fd, "fd")) return NULL;
  if (fd < 0) return throw_msg(env, "fd must be an open file descriptor, got %d", fd);
  if (napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function) return throw_msg(env, "onReadable must be a function");
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  fd_watch *w = calloc(1, sizeof(fd_watch));
  if (!w) return throw_errno(env, "watchFd", ENOMEM);
  w->env = env;
  int err = uv_poll_init(loop, &w->poll, fd);
  if (err) {
    free(w);
    return throw_errno(env, "watchFd: uv_poll_init", -err);
  }
  /* From here the handle exists: every failure path closes it (fd_watch_stop) and the finalizer frees it. */
  if (napi_create_external(env, w, fd_watch_finalize, NULL, &external) != napi_ok) {
    w->object_gone = true;
    fd_watch_stop(w);
    napi_throw_error(env, NULL, "watchFd: cannot create the watch object");
    return NULL;
  }
  napi_type_tag_object(env, external, &WATCH_TAG);
  if (napi_create_reference(env, argv[1], 1, &w->callback) != napi_ok ||
      napi_create_string_utf8(env, "ringstack:fdWatch", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &w->async_context) != napi_ok ||
      napi_add_async_cleanup_hook(env, fd_watch_env_ending, w, &w->cleanup_hook) != napi_ok) {
    fd_watch_stop(w);
    napi_throw_error(env, NULL, "watchFd: cannot register the callback or the cleanup hook");
    return NULL;
  }
  err = uv_poll_start(&w->poll, UV_READABLE, fd_watch_ready);
  if (err) {
    fd_watch_stop(w);
    return throw_errno(env, "watchFd: uv_poll_start", -err);
  }
  return external;
}

/* unwatchFd(watch): stops and closes the watch; harmless twice. */
static napi_value unwatch_fd(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bool tagged = false;
  fd_watch *w;
  if (!get_args(env, info, 1, argv)) return NULL;
  if (napi_check_object_type_tag(env, argv[0], &WATCH_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, argv[0], (void **)&w) != napi_ok)
    return throw_msg(env, "expected a watch from watchFd");
  fd_watch_stop(w);
  return NULL;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* Interface facts: interfaceInfo(name, netns | null), listInterfaces(netns | null).                           */

static int interface_facts(napi_env env, int sock, const char *name, napi_value *out) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
  if (ioctl(sock, SIOCGIFINDEX, &ifr)) return errno;
  int index = ifr.ifr_ifindex;
  if (ioctl(sock, SIOCGIFMTU, &ifr)) return errno;
  int mtu = ifr.ifr_mtu;
  if (ioctl(sock, SIOCGIFFLAGS, &ifr)) return errno;
  int flags = ifr.ifr_flags;
  if (ioctl(sock, SIOCGIFHWADDR, &ifr)) return errno;
  bool ether = ifr.ifr_hwaddr.sa_family == ARPHRD_ETHER;
  double mac = 0;
  for (int i = 0; i < 6; i++) mac = mac * 256 + (uint8_t)ifr.ifr_hwaddr.sa_data[i];
  napi_value obj, str, b;
  napi_create_object(env, &obj);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &str);
  napi_set_named_property(env, obj, "name", str);
  set_number(env, obj, "index", index);
  set_number(env, obj, "mtu", mtu);
  set_number(env, obj, "mac", ether ? mac : 0);
  napi_get_boolean(env, (flags & IFF_UP) != 0, &b);
  napi_set_named_property(env, obj, "up", b);
  napi_get_boolean(env, (flags & IFF_LOOPBACK) != 0, &b);
  napi_set_named_property(env, obj, "loopback", b);
  napi_get_boolean(env, ether, &b);
  napi_set_named_property(env, obj, "ethernet", b);
  *out = obj;
  return 0;
}

static napi_value interfaces_query(napi_env env, napi_callback_info info, bool list) {
  napi_value argv[2], out = NULL;
  char name[IFNAMSIZ], netns_buf[512];
  const char *netns, *step = "";
  if (!get_args(env, info, 2, argv)) return NULL;
  if (list) {
    if (!get_netns(env, argv[0], netns_buf, sizeof(netns_buf), &netns)) return NULL;
  } else if (!get_string(env, argv[0], name, sizeof(name), "name") ||
             !get_netns(env, argv[1], netns_buf, sizeof(netns_buf), &netns)) {
    return NULL;
  }
  int saved_ns, err = netns_enter(netns, &saved_ns, &step);
  if (!err) {
    /* Interface ioctls work on any socket; a Unix one needs no privilege and exists in every namespace. */
    step = "socket";
    int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) {
      err = errno;
    } else if (!list) {
      step = "interface ioctl";
      err = interface_facts(env, sock, name, &out);
    } else {
      step = "if_nameindex";
      struct if_nameindex *all = if_nameindex();
      if (!all) {
        err = errno;
      } else {
        napi_create_array(env, &out);
        uint32_t k = 0;
        for (struct if_nameindex *i = all; i->if_index != 0; i++) {
          napi_value facts;
          /* An interface may vanish between listing and asking: leave it out. */
          if (interface_facts(env, sock, i->if_name, &facts) == 0) napi_set_element(env, out, k++, facts);
        }
        if_freenameindex(all);
      }
    }
    if (sock >= 0) close(sock);
    netns_leave(saved_ns);
  }
  if (err) {
    char context[1024];
    snprintf(context, sizeof(context), "%s(%s%s%s): %s", list ? "listInterfaces" : "interfaceInfo",
             list ? "" : name, netns && !list ? " in " : "", netns ? netns : "", step);
    return throw_errno(env, context, err);
  }
  return out;
}

static napi_value interface_info(napi_env env, napi_callback_info info) { return interfaces_query(env, info, false); }
static napi_value list_interfaces(napi_env env, napi_callback_info info) { return interfaces_query(env, info, true); }

/* ------------------------------------------------------------------------------------------------------------ */
/* packetRxRing(handle) -> { buffer, frameSize, frameCount, frameIndex, vnetHdr }: the TPACKET_V2 receive ring
 * itself, for a reader on this thread that parses frames in place (one copy less than receiveFrames). The reader
 * owns the ring's frame index from then on: receiveFrames must not be used on the handle any more. */
static void ring_export_finalize(napi_env env, void *data, void *hint) { ring_export_unref(hint); }

static napi_value packet_rx_ring(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  native_handle *h = get_handle(env, argv[0]);
  if (!h) return NULL;
  if (h->kind == HANDLE_TAP || h->rx != RX_RING_V2 || !h->ring || !h->receives)
    return throw_msg(env, "packetRxRing needs a receiving packet handle with a TPACKET_V2 ring (rxMode 2)");
  if (!h->ring_export) {
    h->ring_export = malloc(sizeof(ring_export));
    if (!h->ring_export) return throw_errno(env, "packetRxRing", ENOMEM);
    *h->ring_export = (ring_export){h->ring, h->ring_bytes, 1};
  }
  napi_value buffer, out;
  if (napi_create_external_arraybuffer(env, h->ring, h->ring_bytes, ring_export_finalize, h->ring_export, &buffer) != napi_ok)
    return throw_msg(env, "packetRxRing: this runtime refuses external ArrayBuffers");
  h->ring_export->refs++;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "buffer", buffer);
  set_number(env, out, "frameSize", h->frame_size);
  set_number(env, out, "frameCount", h->frame_count);
  set_number(env, out, "frameIndex", h->frame_index);
  napi_value vnet;
  napi_get_boolean(env, h->vnet, &vnet);
  napi_set_named_property(env, out, "vnetHdr", vnet);
  return out;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* copyBytes(dst, dstOffset, src, srcOffset, length): memmove between two Uint8Arrays, either over shared memory.
 * V8 copies into or out of a SharedArrayBuffer with a relaxed-atomic loop (word by word at best); libc's memmove
 * moves cache lines with vector stores, several times faster on 64 KiB of data another core just wrote
 * (docs/PERFORMANCE.md, "Copies"). Racing writers are the rings' business: they publish only after the copy. */
static bool get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *length, const char *name) {
  bool is_typed;
  napi_typedarray_type type;
  void *p;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, v, &type, length, &p, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    throw_msg(env, "%s must be a Uint8Array", name);
    return false;
  }
  *data = p;
  return true;
}

static napi_value copy_bytes(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  uint8_t *dst, *src;
  size_t dst_length, src_length;
  int64_t dst_offset, src_offset, length;
  if (!get_args(env, info, 5, argv) || !get_bytes(env, argv[0], &dst, &dst_length, "dst") ||
      !get_bytes(env, argv[2], &src, &src_length, "src") ||
      napi_get_value_int64(env, argv[1], &dst_offset) != napi_ok ||
      napi_get_value_int64(env, argv[3], &src_offset) != napi_ok || napi_get_value_int64(env, argv[4], &length) != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) throw_msg(env, "copyBytes(dst, dstOffset, src, srcOffset, length): offsets and length must be numbers");
    return NULL;
  }
  if (dst_offset < 0 || src_offset < 0 || length < 0 || (uint64_t)dst_offset + (uint64_t)length > dst_length ||
      (uint64_t)src_offset + (uint64_t)length > src_length) {
    throw_msg(env, "copyBytes: range outside its array");
    return NULL;
  }
  memmove(dst + dst_offset, src + src_offset, (size_t)length);
  return NULL;
}

/* ------------------------------------------------------------------------------------------------------------ */
/* mallocTune(trimThresholdBytes, mmapThresholdBytes): glibc's M_TRIM_THRESHOLD and M_MMAP_THRESHOLD, process-wide.
 * glibc hands the top of its heap back to the kernel whenever more than 128 KiB there is free; a reader that gets a
 * fresh 64 KiB Buffer per read frees them in bursts when V8 collects them, and the next reads fault those pages in
 * again (docs/PERFORMANCE.md, "page faults in the 'data' path"). Setting either value also ends glibc's dynamic
 * mmap threshold, which is why tuneMalloc (src/link/native.ts) sets both. 0 leaves a value alone. Returns false
 * where mallopt is not glibc's. */
static napi_value malloc_tune(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  int64_t trim, mmap_threshold;
  if (!get_args(env, info, 2, argv) || napi_get_value_int64(env, argv[0], &trim) != napi_ok ||
      napi_get_value_int64(env, argv[1], &mmap_threshold) != napi_ok || trim < 0 || mmap_threshold < 0 ||
      trim > INT32_MAX || mmap_threshold > INT32_MAX) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) throw_msg(env, "mallocTune(trimThresholdBytes, mmapThresholdBytes): non-negative integers below 2^31");
    return NULL;
  }
  bool applied = false;
#ifdef __GLIBC__
  applied = true;
  if (trim > 0 && mallopt(M_TRIM_THRESHOLD, (int)trim) != 1) applied = false;
  if (mmap_threshold > 0 && mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold) != 1) applied = false;
#endif
  napi_get_boolean(env, applied, &result);
  return result;
}

/* ------------------------------------------------------------------------------------------------------------ */

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"packetOpen", NULL, packet_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tapOpen", NULL, tap_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tapAttach", NULL, tap_attach, NULL, NULL, NULL, napi_enumerable, NULL},
      {"handleInfo", NULL, handle_info, NULL, NULL, NULL, napi_enumerable, NULL},
      {"handleCounters", NULL, handle_counters_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"receiveFrames", NULL, receive_frames, NULL, NULL, NULL, napi_enumerable, NULL},
      {"transmitFrames", NULL, transmit_frames, NULL, NULL, NULL, napi_enumerable, NULL},
      {"closeHandle", NULL, close_handle, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pollFd", NULL, poll_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"eventfdCreate", NULL, eventfd_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"eventfdSignal", NULL, eventfd_signal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"eventfdClose", NULL, eventfd_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watchFd", NULL, watch_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unwatchFd", NULL, unwatch_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"interfaceInfo", NULL, interface_info, NULL, NULL, NULL, napi_enumerable, NULL},
      {"listInterfaces", NULL, list_interfaces, NULL, NULL, NULL, napi_enumerable, NULL},
      {"copyBytes", NULL, copy_bytes, NULL, NULL, NULL, napi_enumerable, NULL},
      {"packetRxRing", NULL, packet_rx_ring, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mallocTune", NULL, malloc_tune, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok) return NULL;
  return exports;
}
