"""Writes wrappers.inc for tf32_fwd.cu: wgmma TF32 products m64nNk8 (N = 64, 72), A and B from
shared-memory descriptors (ss), or A from registers and B from a descriptor (rs). The ss
products take d = A B + (accumulate ? d : 0); the rs products always accumulate."""


def regs(first: int, n: int) -> str:
    return ", ".join(f"%{i}" for i in range(first, first + n))


def outs(nt: int) -> str:
    return ", ".join(f'"+f"(d[{j}][{e}])' for j in range(nt) for e in range(4))


def wrapper(n: int, rs: bool) -> str:
    nt = n // 8
    r = 4 * nt
    instr = f"wgmma.mma_async.sync.aligned.m64n{n}k8.f32.tf32.tf32"
    start = "__device__ __forceinline__ void"
    if rs:
        head = f"{start} wg_rs_n{n}(float (&d)[{nt}][4], const uint32_t (&a)[4], uint64_t b)"
        operands = f"{{{regs(0, r)}}}, {{{regs(r, 4)}}}, %{r + 4}, p, 1, 1"
        pred, ins = r + 5, '"r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1)'
    else:
        head = f"{start} wg_ss_n{n}(float (&d)[{nt}][4], uint64_t a, uint64_t b, int accumulate)"
        operands = f"{{{regs(0, r)}}}, %{r}, %{r + 1}, p, 1, 1"
        pred, ins = r + 2, '"l"(a), "l"(b), "r"(accumulate)'
    return (
        f"{head} {{\n"
        f'  asm volatile("{{\\n.reg .pred p;\\nsetp.ne.b32 p, %{pred}, 0;\\n"\n'
        f'               "{instr} {operands};\\n}}\\n"\n'
        f"               : {outs(nt)}\n"
        f"               : {ins});\n"
        "}"
    )


if __name__ == "__main__":
    text = "\n".join([wrapper(64, False), wrapper(72, False), wrapper(72, True)])
    with open("wrappers.inc", "w") as f:
        f.write(text + "\n")
