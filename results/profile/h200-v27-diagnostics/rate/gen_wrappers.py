"""Writes wrappers.inc: wgmma m64nNk8 TF32 products for rate.cu, B from a shared-memory
descriptor and A from one (ss) or from registers (rs), N in NS."""

NS = (8, 24, 40, 64, 72, 128)


def regs(n: int) -> str:
    return ", ".join(f"%{i}" for i in range(n))


def outs(nt: int) -> str:
    return ", ".join(f'"+f"(d[{j}][{e}])' for j in range(nt) for e in range(4))


def wrapper(n: int, rs: bool) -> str:
    nt = n // 8
    r = 4 * nt
    instr = f"wgmma.mma_async.sync.aligned.m64n{n}k8.f32.tf32.tf32"
    if rs:
        args = f"float (&d)[{nt}][4], const uint32_t (&a)[4], uint64_t b"
        head = f"__device__ __forceinline__ void mma_rs_n{n}({args})"
        operands = f"{{{regs(r)}}}, {{%{r}, %{r + 1}, %{r + 2}, %{r + 3}}}, %{r + 4}, p, 1, 1"
        scale, ins = r + 5, '"r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1)'
    else:
        args = f"float (&d)[{nt}][4], uint64_t a, uint64_t b"
        head = f"__device__ __forceinline__ void mma_ss_n{n}({args})"
        operands = f"{{{regs(r)}}}, %{r}, %{r + 1}, p, 1, 1"
        scale, ins = r + 2, '"l"(a), "l"(b), "r"(1)'
    return (
        f"{head} {{\n"
        f'  asm volatile("{{\\n.reg .pred p;\\nsetp.ne.b32 p, %{scale}, 0;\\n"\n'
        f'               "{instr} {operands};\\n}}\\n"\n'
        f"               : {outs(nt)}\n"
        f"               : {ins});\n"
        "}"
    )


if __name__ == "__main__":
    text = "\n".join(wrapper(n, rs) for n in NS for rs in (False, True))
    with open("wrappers.inc", "w") as f:
        f.write(text + "\n")
