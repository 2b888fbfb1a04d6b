"""CPU check of tf32_fwd.cu's index arithmetic: the precomputed offsets equal sw() of the
intended element, and the copies fill every tile element once at the intended place."""

C, D, NV = 64, 128, 72


def sw(rows, r, c):
    return (c >> 5) * (rows * 32) + r * 32 + ((((c >> 2) & 7) ^ (r & 7)) << 2) + (c & 3)


def pos_of(tok):  # V^T position of token tok within its 8-token group
    return 4 + (tok >> 1) if tok & 1 else tok >> 1


bad = 0
seen_q, seen_v = {}, {}
for tid in range(128):
    lane, warp = tid & 31, tid >> 5
    g, t = lane >> 2, lane & 3
    kt_off, st_off = {}, {}
    for h in range(2):
        for u in range(2):
            x = ((((4 * warp + (g >> 2) + 2 * h) & 7) ^ (2 * t + u)) << 2) + (g & 3)
            kt_off[h, u] = (warp >> 1) * (C * 32) + 64 * t + 32 * u + x
            st_off[h, u] = (warp >> 1) * (NV * 32) + 64 * t + 32 * u + x
    for mt in range(2):
        for j in range(8):
            for h in range(2):
                for u in range(2):
                    dim, tok = 64 * mt + 16 * warp + g + 8 * h, 8 * j + 2 * t + u
                    bad += kt_off[h, u] + 4096 * mt + 256 * j != sw(C, tok, dim)
                    bad += st_off[h, u] + 4608 * mt + 256 * j != sw(NV, tok, dim)
    # Q and K copies
    qk_col, qk_row = 4 * (tid % 32), tid // 32
    qk_dst = [sw(C, qk_row + 4 * b, qk_col) for b in range(2)]
    for a in range(8):
        for b in range(2):
            r = qk_row + 8 * a + 4 * b
            for e in range(4):
                dst = qk_dst[b] + 256 * a + e
                bad += dst != sw(C, r, qk_col + e)
                seen_q[dst] = seen_q.get(dst, 0) + 1
    # V copy
    v_col, v_tok = tid % 64, tid // 64
    for a in range(8):
        base = sw(NV, v_col, 8 * a + 4 * v_tok)
        for b in range(4):
            tok = v_tok + 8 * a + 2 * b
            dst = base + b
            bad += dst != sw(NV, v_col, (tok & ~7) + pos_of(tok & 7))
            seen_v[dst] = seen_v.get(dst, 0) + 1
# Every element of Q's tile once; V^T's first 64 rows once each, never the ones rows.
assert sorted(seen_q) == sorted(sw(C, r, c) for r in range(C) for c in range(D)), "Q tile"
assert all(n == 1 for n in seen_q.values())
assert sorted(seen_v) == sorted(sw(NV, r, p) for r in range(64) for p in range(C)), "V^T tile"
assert all(n == 1 for n in seen_v.values())
assert max(sw(NV, r, p) for r in range(NV) for p in range(C)) < NV * C
# The W accumulator as the A fragment of W V: position t <- column 2t, t + 4 <- 2t + 1.
for t in range(4):
    assert 8 * 0 + 2 * t == (t & ~7) + 2 * t and pos_of(2 * t) == t and pos_of(2 * t + 1) == t + 4
print("index check:", "ok" if bad == 0 else f"{bad} mismatches")
