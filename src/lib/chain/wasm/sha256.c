/*
 * SHA-256 for bix's block decoder, compiled to WebAssembly
 * (scripts/build-sha256-wasm.sh writes ../sha256-wasm-binary.ts).
 *
 * Why: node:crypto hashes at native speed but costs ~1-2 us per call, and
 * indexing a block hashes ~7 short messages per transaction (txid, merkle
 * nodes, script keys). Here one call hashes a whole block's worth of
 * messages, already copied into this module's memory.
 *
 * No libc, no allocation: the caller lays out the memory.
 */
#include <stdint.h>

typedef uint32_t u32;
typedef uint8_t u8;

static const u32 K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const u32 IV[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static inline u32 load_be(const u8 *p) { return ((u32)p[0] << 24) | ((u32)p[1] << 16) | ((u32)p[2] << 8) | (u32)p[3]; }

static inline void store_be(u8 *p, u32 v) {
  p[0] = (u8)(v >> 24);
  p[1] = (u8)(v >> 16);
  p[2] = (u8)(v >> 8);
  p[3] = (u8)v;
}

#define S0(x) (ROTR(x, 2) ^ ROTR(x, 13) ^ ROTR(x, 22))
#define S1(x) (ROTR(x, 6) ^ ROTR(x, 11) ^ ROTR(x, 25))
#define G0(x) (ROTR(x, 7) ^ ROTR(x, 18) ^ ((x) >> 3))
#define G1(x) (ROTR(x, 17) ^ ROTR(x, 19) ^ ((x) >> 10))
#define CH(e, f, g) ((g) ^ ((e) & ((f) ^ (g))))
#define MAJ(a, b, c) (((a) & (b)) | ((c) & ((a) | (b))))
/* one round; the message schedule lives in 16 locals, updated in place */
#define ROUND(a, b, c, d, e, f, g, h, k, w) \
  do {                                     \
    u32 t1 = h + S1(e) + CH(e, f, g) + k + w; \
    u32 t2 = S0(a) + MAJ(a, b, c);         \
    d += t1;                               \
    h = t1 + t2;                           \
  } while (0)
#define EXPAND(w0, w14, w9, w1) (w0 += G1(w14) + w9 + G0(w1))

/* Fully unrolled, everything in locals: about twice the speed of the loop with a 64-word array in memory. */
static void compress(u32 *s, const u8 *block) {
  u32 a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
  u32 w0 = load_be(block), w1 = load_be(block + 4), w2 = load_be(block + 8), w3 = load_be(block + 12);
  u32 w4 = load_be(block + 16), w5 = load_be(block + 20), w6 = load_be(block + 24), w7 = load_be(block + 28);
  u32 w8 = load_be(block + 32), w9 = load_be(block + 36), w10 = load_be(block + 40), w11 = load_be(block + 44);
  u32 w12 = load_be(block + 48), w13 = load_be(block + 52), w14 = load_be(block + 56), w15 = load_be(block + 60);
  for (int r = 0; r < 64; r += 16) {
    if (r > 0) {
      EXPAND(w0, w14, w9, w1);
      EXPAND(w1, w15, w10, w2);
      EXPAND(w2, w0, w11, w3);
      EXPAND(w3, w1, w12, w4);
      EXPAND(w4, w2, w13, w5);
      EXPAND(w5, w3, w14, w6);
      EXPAND(w6, w4, w15, w7);
      EXPAND(w7, w5, w0, w8);
      EXPAND(w8, w6, w1, w9);
      EXPAND(w9, w7, w2, w10);
      EXPAND(w10, w8, w3, w11);
      EXPAND(w11, w9, w4, w12);
      EXPAND(w12, w10, w5, w13);
      EXPAND(w13, w11, w6, w14);
      EXPAND(w14, w12, w7, w15);
      EXPAND(w15, w13, w8, w0);
    }
    ROUND(a, b, c, d, e, f, g, h, K[r + 0], w0);
    ROUND(h, a, b, c, d, e, f, g, K[r + 1], w1);
    ROUND(g, h, a, b, c, d, e, f, K[r + 2], w2);
    ROUND(f, g, h, a, b, c, d, e, K[r + 3], w3);
    ROUND(e, f, g, h, a, b, c, d, K[r + 4], w4);
    ROUND(d, e, f, g, h, a, b, c, K[r + 5], w5);
    ROUND(c, d, e, f, g, h, a, b, K[r + 6], w6);
    ROUND(b, c, d, e, f, g, h, a, K[r + 7], w7);
    ROUND(a, b, c, d, e, f, g, h, K[r + 8], w8);
    ROUND(h, a, b, c, d, e, f, g, K[r + 9], w9);
    ROUND(g, h, a, b, c, d, e, f, K[r + 10], w10);
    ROUND(f, g, h, a, b, c, d, e, K[r + 11], w11);
    ROUND(e, f, g, h, a, b, c, d, K[r + 12], w12);
    ROUND(d, e, f, g, h, a, b, c, K[r + 13], w13);
    ROUND(c, d, e, f, g, h, a, b, K[r + 14], w14);
    ROUND(b, c, d, e, f, g, h, a, K[r + 15], w15);
  }
  s[0] += a;
  s[1] += b;
  s[2] += c;
  s[3] += d;
  s[4] += e;
  s[5] += f;
  s[6] += g;
  s[7] += h;
}

typedef struct {
  u32 s[8];
  u8 buf[64];
  u32 fill;
  u32 total;
} ctx;

static void init(ctx *c) {
  for (int i = 0; i < 8; i++) c->s[i] = IV[i];
  c->fill = 0;
  c->total = 0;
}

static void update(ctx *c, const u8 *p, u32 n) {
  c->total += n;
  if (c->fill > 0) {
    while (n > 0 && c->fill < 64) {
      c->buf[c->fill++] = *p++;
      n--;
    }
    if (c->fill < 64) return;
    compress(c->s, c->buf);
    c->fill = 0;
  }
  while (n >= 64) {
    compress(c->s, p);
    p += 64;
    n -= 64;
  }
  while (n > 0) {
    c->buf[c->fill++] = *p++;
    n--;
  }
}

static void final(ctx *c, u8 *out) {
  /* messages here are far below 2^29 bytes: the 64-bit bit length fits in 32 bits */
  u32 bits = c->total << 3;
  c->buf[c->fill++] = 0x80;
  if (c->fill > 56) {
    while (c->fill < 64) c->buf[c->fill++] = 0;
    compress(c->s, c->buf);
    c->fill = 0;
  }
  while (c->fill < 60) c->buf[c->fill++] = 0;
  store_be(c->buf + 60, bits);
  compress(c->s, c->buf);
  for (int i = 0; i < 8; i++) store_be(out + 4 * i, c->s[i]);
}

/* sha256 of a 32-byte digest, in place */
static void rehash32(u8 *digest) {
  u8 block[64];
  for (int i = 0; i < 32; i++) block[i] = digest[i];
  block[32] = 0x80;
  for (int i = 33; i < 62; i++) block[i] = 0;
  block[62] = 0x01; /* 256 bits */
  block[63] = 0x00;
  u32 s[8];
  for (int i = 0; i < 8; i++) s[i] = IV[i];
  compress(s, block);
  for (int i = 0; i < 8; i++) store_be(digest + 4 * i, s[i]);
}

/*
 * n messages, each the concatenation of `parts` ranges of memory given as
 * (offset, length) pairs in `jobs` (n * parts pairs of u32). Writes 32 bytes
 * per message to `out`: sha256, or with `twice` sha256(sha256(...)).
 */
__attribute__((export_name("hash_messages"))) void hash_messages(const u32 *jobs, u32 n, u32 parts, u8 *out, u32 twice) {
  ctx c;
  for (u32 i = 0; i < n; i++) {
    init(&c);
    for (u32 k = 0; k < parts; k++) {
      const u32 *job = jobs + 2 * (i * parts + k);
      update(&c, (const u8 *)(uintptr_t)job[0], job[1]);
    }
    final(&c, out + 32 * i);
    if (twice) rehash32(out + 32 * i);
  }
}

/*
 * The merkle root of n 32-byte hashes at `level` (room for n + 1), as
 * Bitcoin Core computes it: an odd level repeats its last hash. Leaves the
 * root in the first 32 bytes; returns 1 if some level had two equal
 * neighbours (CVE-2012-2459), else 0.
 */
__attribute__((export_name("merkle_root"))) u32 merkle_root(u8 *level, u32 n) {
  u32 mutated = 0;
  u8 pair[64];
  while (n > 1) {
    for (u32 pos = 0; pos + 1 < n && !mutated; pos += 2) {
      u32 same = 1;
      for (int i = 0; i < 32; i++) {
        if (level[32 * pos + i] != level[32 * (pos + 1) + i]) {
          same = 0;
          break;
        }
      }
      if (same) mutated = 1;
    }
    if (n & 1) {
      for (int i = 0; i < 32; i++) level[32 * n + i] = level[32 * (n - 1) + i];
      n++;
    }
    for (u32 i = 0; i < n / 2; i++) {
      for (int k = 0; k < 64; k++) pair[k] = level[64 * i + k];
      ctx c;
      init(&c);
      update(&c, pair, 64);
      final(&c, level + 32 * i);
      rehash32(level + 32 * i);
    }
    n /= 2;
  }
  return mutated;
}
