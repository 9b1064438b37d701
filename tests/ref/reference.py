#!/usr/bin/env python3
"""Independent reference for desk's forward pass.

A second implementation of the llama / qwen2 transformer in numpy (float64),
written from the published architectures (Llama 2/3 papers and the Hugging
Face modeling code's documented behaviour: RMSNorm, rotary embeddings in the
GPT-J interleaved layout for GGUF `llama` and the GPT-NeoX half-split layout
for `qwen2`, Llama 3.1 frequency scaling, grouped-query attention, SwiGLU),
with its own GGUF reader and block dequantisers written from the GGML block
format definitions. It shares no code with desk.

usage:
  reference.py logits MODEL.gguf TOK,TOK,...  OUT.f32    write [n_tokens][n_vocab] float32 logits
  reference.py compare MODEL.gguf TOK,... DESK.f32 TOL   compare desk's logits with the reference
  reference.py dequant MODEL.gguf DESK.f32               compare desk's dequantisation of every tensor
                                                         (DESK.f32: all tensors in file order, float32)
  reference.py logprobs MODEL.gguf TOK,... RESP.json TOL check an OpenAI /v1/completions answer (temperature 0,
                                                         logprobs N) from desk serve: greedy tokens, their
                                                         log-softmax and the N best alternatives
"""
import struct
import sys

import numpy as np

# ----------------------------------------------------------------- GGUF reader

GGUF_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}

# type id -> (name, elements per block, bytes per block)
GGML_TYPES = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 30: ("BF16", 1, 2),
    2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
}


class Gguf:
    def __init__(self, path):
        self.buf = open(path, "rb").read()
        self.pos = 0
        magic, version = struct.unpack_from("<II", self.buf, 0)
        assert magic == 0x46554747 and version in (2, 3), "not GGUF v2/v3"
        n_tensors, n_kv = struct.unpack_from("<QQ", self.buf, 8)
        self.pos = 24
        self.kv = {}
        for _ in range(n_kv):
            key = self._str()
            (vt,) = self._take("<I")
            self.kv[key] = self._value(vt)
        self.tensors = {}
        for _ in range(n_tensors):
            name = self._str()
            (nd,) = self._take("<I")
            ne = [self._take("<Q")[0] for _ in range(nd)]
            (ty,) = self._take("<I")
            (off,) = self._take("<Q")
            self.tensors[name] = (ty, ne, off)
        align = self.kv.get("general.alignment", 32)
        self.data = (self.pos + align - 1) // align * align

    def _take(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def _str(self):
        (n,) = self._take("<Q")
        s = self.buf[self.pos:self.pos + n].decode("utf-8", "replace")
        self.pos += n
        return s

    def _value(self, vt):
        if vt == 8:
            return self._str()
        if vt == 9:
            et, n = self._take("<IQ")
            return [self._value(et) for _ in range(n)]
        return self._take(GGUF_SCALAR[vt])[0]

    def tensor(self, name):
        """Dequantised tensor as float64, shape (rows, cols) or (cols,)."""
        ty, ne, off = self.tensors[name]
        tname, blk, bsz = GGML_TYPES[ty]
        n = int(np.prod(ne))
        raw = np.frombuffer(self.buf, dtype=np.uint8, count=n // blk * bsz, offset=self.data + off)
        x = DEQUANT[tname](raw.reshape(-1, bsz)).reshape(-1).astype(np.float64)
        return x.reshape(list(reversed(ne))) if len(ne) > 1 else x


# ----------------------------------------------------------------- dequantisers
# Each takes an (n_blocks, block_bytes) uint8 array and returns (n_blocks, block_elems) values.

def f16(b):
    return b.copy().view(np.float16).astype(np.float32)


def deq_f32(b):
    return b.copy().view(np.float32)


def deq_f16(b):
    return f16(b)


def deq_bf16(b):
    u = b.copy().view(np.uint16).astype(np.uint32) << 16
    return u.view(np.float32)


def nibbles(qs):
    """32 4-bit values from 16 bytes: low nibbles are elements 0..15, high nibbles 16..31."""
    return np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int32)


def fifth_bits(qh):
    """bit j of the little-endian u32 qh is the 5th bit of element j."""
    u = qh.copy().view("<u4").astype(np.uint32)
    return ((u >> np.arange(32, dtype=np.uint32)) & 1).astype(np.int32)


def deq_q4_0(b):
    d = f16(b[:, 0:2])
    return d * (nibbles(b[:, 2:18]) - 8)


def deq_q4_1(b):
    d, m = f16(b[:, 0:2]), f16(b[:, 2:4])
    return d * nibbles(b[:, 4:20]) + m


def deq_q5_0(b):
    d = f16(b[:, 0:2])
    q = nibbles(b[:, 6:22]) | (fifth_bits(b[:, 2:6]) << 4)
    return d * (q - 16)


def deq_q5_1(b):
    d, m = f16(b[:, 0:2]), f16(b[:, 2:4])
    q = nibbles(b[:, 8:24]) | (fifth_bits(b[:, 4:8]) << 4)
    return d * q + m


def deq_q8_0(b):
    d = f16(b[:, 0:2])
    return d * b[:, 2:34].copy().view(np.int8).astype(np.float32)


def two_bit_planes(qs):
    """256 2-bit values from 64 bytes: two halves of 32 bytes; in each half,
    shift s (0,2,4,6) gives elements 32*s/2 .. +32."""
    out = []
    for h in range(2):
        q = qs[:, 32 * h:32 * h + 32].astype(np.int32)
        for s in range(4):
            out.append((q >> (2 * s)) & 3)
    return np.concatenate(out, axis=1)


def deq_q2_K(b):
    scales = b[:, 0:16].astype(np.int32)
    q = two_bit_planes(b[:, 16:80])
    d, dmin = f16(b[:, 80:82]), f16(b[:, 82:84])
    sc = np.repeat(scales & 0xF, 16, axis=1)
    mn = np.repeat(scales >> 4, 16, axis=1)
    return d * sc * q - dmin * mn


def k_scales_6bit_16(s):
    """Q3_K: 16 6-bit scales packed in 12 bytes: low 4 bits in bytes 0..7 (low nibble
    for scales 0..7, high nibble for 8..15), top 2 bits in bytes 8..11."""
    s = s.astype(np.int32)
    out = np.zeros((s.shape[0], 16), dtype=np.int32)
    for i in range(16):
        low = (s[:, i] & 0xF) if i < 8 else (s[:, i - 8] >> 4)
        high = (s[:, 8 + i % 4] >> (2 * (i // 4))) & 3
        out[:, i] = (low | (high << 4)) - 32
    return out


def deq_q3_K(b):
    hmask = b[:, 0:32].astype(np.int32)
    q = two_bit_planes(b[:, 32:96])
    sc = np.repeat(k_scales_6bit_16(b[:, 96:108]), 16, axis=1)
    d = f16(b[:, 108:110])
    # high bit: element 128*h + 32*s + l uses bit (4*h + s) of hmask[l]; set means no -4
    hb = np.concatenate([(hmask >> (4 * h + s)) & 1 for h in range(2) for s in range(4)], axis=1)
    return d * sc * (q - 4 * (1 - hb))


def k_scales_6bit_8(s):
    """Q4_K/Q5_K: 8 scales and 8 mins of 6 bits in 12 bytes."""
    s = s.astype(np.int32)
    sc = np.zeros((s.shape[0], 8), dtype=np.int32)
    mn = np.zeros((s.shape[0], 8), dtype=np.int32)
    for j in range(8):
        if j < 4:
            sc[:, j] = s[:, j] & 63
            mn[:, j] = s[:, j + 4] & 63
        else:
            sc[:, j] = (s[:, j + 4] & 0xF) | ((s[:, j - 4] >> 6) << 4)
            mn[:, j] = (s[:, j + 4] >> 4) | ((s[:, j] >> 6) << 4)
    return sc, mn


def four_bit_chunks(qs):
    """256 4-bit values from 128 bytes: 4 chunks of 32 bytes, low nibbles then high."""
    out = []
    for c in range(4):
        q = qs[:, 32 * c:32 * c + 32].astype(np.int32)
        out += [q & 0xF, q >> 4]
    return np.concatenate(out, axis=1)


def deq_q4_K(b):
    d, dmin = f16(b[:, 0:2]), f16(b[:, 2:4])
    sc, mn = k_scales_6bit_8(b[:, 4:16])
    q = four_bit_chunks(b[:, 16:144])
    return d * np.repeat(sc, 32, axis=1) * q - dmin * np.repeat(mn, 32, axis=1)


def deq_q5_K(b):
    d, dmin = f16(b[:, 0:2]), f16(b[:, 2:4])
    sc, mn = k_scales_6bit_8(b[:, 4:16])
    qh = b[:, 16:48].astype(np.int32)
    q = four_bit_chunks(b[:, 48:176])
    # element 64*c + l uses bit 2c of qh[l]; element 64*c + 32 + l uses bit 2c+1
    hb = np.concatenate([(qh >> k) & 1 for k in range(8)], axis=1)
    q = q + 16 * hb
    return d * np.repeat(sc, 32, axis=1) * q - dmin * np.repeat(mn, 32, axis=1)


def deq_q6_K(b):
    ql = b[:, 0:128].astype(np.int32)
    qh = b[:, 128:192].astype(np.int32)
    sc = b[:, 192:208].copy().view(np.int8).astype(np.int32)
    d = f16(b[:, 208:210])
    out = []
    for h in range(2):
        l_ = ql[:, 64 * h:64 * h + 64]
        hh = qh[:, 32 * h:32 * h + 32]
        out += [(l_[:, 0:32] & 0xF) | ((hh & 3) << 4),
                (l_[:, 32:64] & 0xF) | (((hh >> 2) & 3) << 4),
                (l_[:, 0:32] >> 4) | (((hh >> 4) & 3) << 4),
                (l_[:, 32:64] >> 4) | (((hh >> 6) & 3) << 4)]
    q = np.concatenate(out, axis=1) - 32
    return d * np.repeat(sc, 16, axis=1) * q


DEQUANT = {"F32": deq_f32, "F16": deq_f16, "BF16": deq_bf16, "Q4_0": deq_q4_0, "Q4_1": deq_q4_1,
           "Q5_0": deq_q5_0, "Q5_1": deq_q5_1, "Q8_0": deq_q8_0, "Q2_K": deq_q2_K, "Q3_K": deq_q3_K,
           "Q4_K": deq_q4_K, "Q5_K": deq_q5_K, "Q6_K": deq_q6_K}

# ----------------------------------------------------------------- transformer


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def forward(g, tokens):
    def mm(h, name):
        return h @ g.tensor(name).T

    arch = g.kv["general.architecture"]
    hp = lambda k, d=None: g.kv.get(f"{arch}.{k}", d)
    d = hp("embedding_length")
    n_layer = hp("block_count")
    n_head = hp("attention.head_count")
    n_kv = hp("attention.head_count_kv", n_head)
    hd = hp("attention.key_length", d // n_head)
    n_rot = hp("rope.dimension_count", hd)
    eps = hp("attention.layer_norm_rms_epsilon", 1e-5)
    base = hp("rope.freq_base", 10000.0)
    neox = arch == "qwen2"

    inv_freq = base ** (-np.arange(0, n_rot, 2, dtype=np.float64) / n_rot)
    if "rope_freqs.weight" in g.tensors:
        inv_freq = inv_freq / g.tensor("rope_freqs.weight")
    elif hp("rope.scaling.type") == "llama3":
        # Llama 3.1: keep high frequencies, divide low ones by `factor`, blend in between
        factor, lo, hi = hp("rope.scaling.factor", 8.0), hp("rope.scaling.low_freq_factor", 1.0), hp("rope.scaling.high_freq_factor", 4.0)
        old = hp("rope.scaling.original_context_length", 8192)
        wavelen = 2 * np.pi / inv_freq
        smooth = (old / wavelen - lo) / (hi - lo)
        scaled = np.where(wavelen > old / lo, inv_freq / factor, inv_freq)
        mid = (wavelen <= old / lo) & (wavelen >= old / hi)
        inv_freq = np.where(mid, (1 - smooth) * inv_freq / factor + smooth * inv_freq, scaled)

    T = len(tokens)
    pos = np.arange(T, dtype=np.float64)
    ang = np.outer(pos, inv_freq)  # (T, n_rot/2)
    cos, sin = np.cos(ang), np.sin(ang)

    def rope(x):  # x: (T, heads, hd)
        x = x.copy()
        if neox:
            half = n_rot // 2
            a, b = x[..., :half].copy(), x[..., half:n_rot].copy()
            x[..., :half] = a * cos[:, None, :] - b * sin[:, None, :]
            x[..., half:n_rot] = a * sin[:, None, :] + b * cos[:, None, :]
        else:
            a, b = x[..., 0:n_rot:2].copy(), x[..., 1:n_rot:2].copy()
            x[..., 0:n_rot:2] = a * cos[:, None, :] - b * sin[:, None, :]
            x[..., 1:n_rot:2] = a * sin[:, None, :] + b * cos[:, None, :]
        return x

    emb = g.tensor("token_embd.weight")
    x = emb[np.array(tokens)]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(n_layer):
        W = lambda n: g.tensor(f"blk.{l}.{n}")  # noqa: E731
        B = lambda n: g.tensor(f"blk.{l}.{n}") if f"blk.{l}.{n}" in g.tensors else 0.0
        h = rmsnorm(x, W("attn_norm.weight"), eps)
        q = (mm(h, f"blk.{l}.attn_q.weight") + B("attn_q.bias")).reshape(T, n_head, hd)
        k = (mm(h, f"blk.{l}.attn_k.weight") + B("attn_k.bias")).reshape(T, n_kv, hd)
        v = (mm(h, f"blk.{l}.attn_v.weight") + B("attn_v.bias")).reshape(T, n_kv, hd)
        q, k = rope(q), rope(k)
        rep = n_head // n_kv
        k = np.repeat(k, rep, axis=1)
        v = np.repeat(v, rep, axis=1)
        att = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(hd) + mask
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        o = np.einsum("hqk,khd->qhd", att, v).reshape(T, n_head * hd)
        x = x + mm(o, f"blk.{l}.attn_output.weight")
        h = rmsnorm(x, W("ffn_norm.weight"), eps)
        gate = mm(h, f"blk.{l}.ffn_gate.weight")
        up = mm(h, f"blk.{l}.ffn_up.weight")
        x = x + mm(gate / (1 + np.exp(-gate)) * up, f"blk.{l}.ffn_down.weight")
    x = rmsnorm(x, g.tensor("output_norm.weight"), eps)
    return mm(x, "output.weight" if "output.weight" in g.tensors else "token_embd.weight")


def token_texts(g):
    """Each vocabulary entry as the text it stands for (written from the
    SentencePiece and GPT-2 byte-level conventions), invalid UTF-8 replaced."""
    toks, types = g.kv["tokenizer.ggml.tokens"], g.kv.get("tokenizer.ggml.token_type")
    if g.kv["tokenizer.ggml.model"] == "llama":
        out = []
        for i, t in enumerate(toks):
            if types and types[i] == 6 and len(t) == 6 and t.startswith("<0x"):
                out.append(bytes([int(t[3:5], 16)]))
            else:
                out.append(t.replace("\u2581", " ").encode())
    else:
        # GPT-2: printable bytes map to themselves, the rest to U+0100 onwards in byte order
        keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
        to_byte, n = {chr(b): b for b in keep}, 0
        for b in range(256):
            if b not in keep:
                to_byte[chr(256 + n)] = b
                n += 1
        out = []
        for i, t in enumerate(toks):
            special = types and types[i] in (3, 4)
            out.append(t.encode() if special else bytes(to_byte.get(c, 0) for c in t))
    return [b.decode("utf-8", errors="replace") for b in out]


def check_logprobs(g, tokens, resp, tol):
    import json
    lp = json.load(open(resp))["choices"][0]["logprobs"]
    texts = token_texts(g)
    seq, worst, n_top = list(tokens), 0.0, len(lp["top_logprobs"][0])
    for i, tok in enumerate(lp["tokens"]):
        logits = forward(g, seq)[-1]
        m = logits.max()
        ls = logits - m - np.log(np.exp(logits - m).sum())
        best = int(np.argmax(ls))
        if texts[best] != tok:
            print(f"step {i}: desk chose {tok!r}, the reference's greedy choice is {texts[best]!r}")
            return 1
        worst = max(worst, abs(ls[best] - lp["token_logprobs"][i]))
        order = np.argsort(-ls, kind="stable")[:n_top]
        want = {texts[t]: ls[t] for t in order}
        got = lp["top_logprobs"][i]
        if set(want) != set(got):
            print(f"step {i}: top {n_top} are {sorted(got)}, the reference has {sorted(want)}")
            return 1
        worst = max(worst, max(abs(want[k] - got[k]) for k in want))
        seq.append(best)
    ok = worst <= tol
    print(f"{len(lp['tokens'])} tokens x top {n_top}: max |desk - ref| logprob = {worst:.1e} (tolerance {tol:.0e}) "
          f"-> {'ok' if ok else 'FAIL'}")
    return 0 if ok else 1


def main():
    cmd = sys.argv[1]
    g = Gguf(sys.argv[2])
    if cmd == "logprobs":
        return check_logprobs(g, [int(t) for t in sys.argv[3].split(",")], sys.argv[4], float(sys.argv[5]))
    if cmd == "dequant":
        got = np.fromfile(sys.argv[3], dtype=np.float32)
        at, worst = 0, 0.0
        for name in g.tensors:  # file order, as desk writes them
            ref = g.tensor(name).reshape(-1)
            mine = got[at:at + ref.size]
            at += ref.size
            worst = max(worst, float(np.abs(mine - ref).max() / max(np.abs(ref).max(), 1e-30)))
        ok = at == got.size and worst <= 1e-6
        print(f"{sys.argv[2]}: dequantised tensors differ by at most {worst:.1e} of their range -> {'ok' if ok else 'FAIL'}")
        return 0 if ok else 1
    tokens = [int(t) for t in sys.argv[3].split(",")]
    ref = forward(g, tokens)
    if cmd == "logits":
        ref.astype(np.float32).tofile(sys.argv[4])
        return 0
    got = np.fromfile(sys.argv[4], dtype=np.float32).reshape(ref.shape)
    tol = float(sys.argv[5])
    # error relative to the spread of the reference logits at each position
    scale = ref.std(axis=-1, keepdims=True)
    rel = np.abs(got - ref) / scale
    worst = float(rel.max())
    agree = float(np.mean(got.argmax(-1) == ref.argmax(-1)))
    ok = worst <= tol and np.isfinite(got).all()
    print(f"{sys.argv[2]}: max |desk - ref| / std(ref) = {worst:.2e} (tolerance {tol:.0e}), "
          f"argmax agreement {agree:.0%} -> {'ok' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
