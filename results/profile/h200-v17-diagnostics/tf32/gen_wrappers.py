"""Writes wrappers.inc: wgmma m64nNk8 TF32 and m64nNk16 bfloat16 products (N = 64, 128, 256),
both operands from shared-memory descriptors, for tf32_check.cu."""


def regs(n: int) -> str:
    return ", ".join(f"%{i}" for i in range(n))


def outs(nt: int) -> str:
    return ", ".join(f'"+f"(d[{j}][{e}])' for j in range(nt) for e in range(4))


def wrapper(kind: str, n: int) -> str:
    nt, k = n // 8, 8 if kind == "tf32" else 16
    r = 4 * nt
    trans = "" if kind == "tf32" else ", 0, 0"  # TF32 takes no transpose immediates
    head = f"__device__ __forceinline__ void mma_{kind}_n{n}"
    instr = f"wgmma.mma_async.sync.aligned.m64n{n}k{k}.f32.{kind}.{kind}"
    operands = f"{{{regs(r)}}}, %{r}, %{r + 1}, p, 1, 1{trans}"
    return (
        f"{head}(float (&d)[{nt}][4], uint64_t a, uint64_t b) {{\n"
        f'  asm volatile("{{\\n.reg .pred p;\\nsetp.ne.b32 p, %{r + 2}, 0;\\n"\n'
        f'               "{instr} {operands};\\n}}\\n"\n'
        f"               : {outs(nt)}\n"
        f'               : "l"(a), "l"(b), "r"(1));\n'
        "}"
    )


if __name__ == "__main__":
    text = "\n".join(wrapper(kind, n) for n in (64, 128, 256) for kind in ("tf32", "bf16"))
    with open("wrappers.inc", "w") as f:
        f.write(text + "\n")
