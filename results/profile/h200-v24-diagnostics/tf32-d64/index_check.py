"""CPU check of csrc/pass_tf32_fwd.cu's index arithmetic at head dims 64 and 128 (the templated
kernel of `tf32-d64-on-cb46617.diff`): the precomputed offsets equal sw32() of the intended
element, the copies fill every tile element once at its place, the row sums cover V^T's rows,
and every index stays inside its tile."""

C, THREADS, TILES_PER_HEAD = 64, 128, 2


def sw32(rows, r, c):
    return (c >> 5) * (rows * 32) + r * 32 + ((((c >> 2) & 7) ^ (r & 7)) << 2) + (c & 3)


def pos_of(tok):  # V^T position of token tok within its 8-token group
    return 4 + (tok >> 1) if tok & 1 else tok >> 1


def check(d):
    qt = d // TILES_PER_HEAD
    nv, mt_count, rs, pp = qt + 8, d // 64, THREADS // (d // 4), 8 * qt // THREADS
    bad, seen_q, seen_v, sigma = 0, {}, {}, {}
    for tid in range(THREADS):
        lane, warp = tid & 31, tid >> 5
        g, t = lane >> 2, lane & 3
        kt_off, st_off = {}, {}
        for e in range(2):
            for u in range(2):
                x = ((((4 * warp + (g >> 2) + 2 * e) & 7) ^ (2 * t + u)) << 2) + (g & 3)
                kt_off[e, u] = (warp >> 1) * (C * 32) + 64 * t + 32 * u + x
                st_off[e, u] = (warp >> 1) * (nv * 32) + 64 * t + 32 * u + x
        for mt in range(mt_count):
            for j in range(8):  # K^T's fragments: tokens of the chunk
                for e in range(2):
                    for u in range(2):
                        dim, tok = 64 * mt + 16 * warp + g + 8 * e, 8 * j + 2 * t + u
                        bad += kt_off[e, u] + 4096 * mt + 256 * j != sw32(C, tok, dim)
            for j in range(nv // 8):  # S^T's publication: its columns
                for e in range(2):
                    for u in range(2):
                        dim, col = 64 * mt + 16 * warp + g + 8 * e, 8 * j + 2 * t + u
                        bad += st_off[e, u] + 64 * nv * mt + 256 * j != sw32(nv, col, dim)
        qk_col, qk_row = 4 * (tid % (d // 4)), tid // (d // 4)
        qk_dst = [sw32(C, qk_row + rs * c, qk_col) for c in range(8 // rs)]
        for a in range(C // 8):
            for c in range(8 // rs):
                r = qk_row + 8 * a + rs * c
                for el in range(4):
                    dst = qk_dst[c] + 256 * a + el
                    bad += dst != sw32(C, r, qk_col + el)
                    seen_q[dst] = seen_q.get(dst, 0) + 1
        v_col, v_pos = tid % qt, pp * (tid // qt)
        for a in range(C // 8):
            base = sw32(nv, v_col, 8 * a + v_pos)
            for c in range(pp):
                x = v_pos + c
                tok = 8 * a + 2 * (x & 3) + (x >> 2)
                bad += base + c != sw32(nv, v_col, (tok & ~7) + pos_of(tok & 7))
                seen_v[base + c] = seen_v.get(base + c, 0) + 1
        tr = THREADS // qt
        part = C // tr
        row, p0 = tid // tr, part * (tid % tr)
        for c in range(0, part, 4):
            for el in range(4):
                key = sw32(nv, row, p0 + c + el)
                sigma[key] = sigma.get(key, 0) + 1
    tile_q = {sw32(C, r, c) for r in range(C) for c in range(d)}
    assert set(seen_q) == tile_q and all(n == 1 for n in seen_q.values()), "Q tile"
    assert max(tile_q) < C * d
    rows_v = {sw32(nv, r, p) for r in range(qt) for p in range(C)}
    assert set(seen_v) == rows_v and all(n == 1 for n in seen_v.values()), "V^T tile"
    assert set(sigma) == rows_v and all(n == 1 for n in sigma.values()), "row sums"
    ones = {sw32(nv, qt + i // C, i % C) for i in range(8 * C)}
    assert not ones & rows_v and max(ones | rows_v) < nv * C, "ones rows"
    assert (nv * C) % 256 == 0 and (2 * C * d + nv * C) * 4 % 1024 == 0, "1024-byte atoms"
    return bad


for d in (64, 128):
    bad = check(d)
    print(f"head dim {d}: index check", "ok" if bad == 0 else f"{bad} mismatches")
    assert bad == 0
