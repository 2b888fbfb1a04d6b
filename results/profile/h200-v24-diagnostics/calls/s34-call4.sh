# Session 34 call 4 (one GPU): q's row norms inside the TF32 forward (working tree) against
# 8520d3f (base): the TF32 tests, the kernel table at the paper's shape, bitwise at the default
# precision, the op's GPU tests, and the TF32 forward beside fla at N = 4096 and 65536.
R=/tmp/r4; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r4; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base; (cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) &
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
base() { (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 "$@"); }
cur() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
timeout 150 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m pytest -q -rs tests/test_tf32_forward.py -p no:cacheprovider" > $R/tests-tf32.txt 2>&1; echo "tf32 tests rc $?"; tail -n 1 $R/tests-tf32.txt; grep -E "^E +AssertionError|^FAILED|^ERROR" $R/tests-tf32.txt | cut -c1-300 | head -8; pack
cur .device/tf32prof.py > $R/tf32prof.txt 2>&1; head -n 8 $R/tf32prof.txt | cut -c1-200; pack
wait; ls /tmp/base/fastmax/_C*.so > /dev/null || { tail -20 $R/build-base.log; pack; exit 1; }
base -m fastmax.cli bitwise save --out /tmp/base.pt > $R/bitwise.log 2>&1
cur -m fastmax.cli bitwise save --out /tmp/head.pt >> $R/bitwise.log 2>&1
cur -m fastmax.cli bitwise compare /tmp/base.pt /tmp/head.pt --csv $R/bitwise-tf32norm-8520d3f.csv > $R/bitwise.txt 2>&1; tail -n 1 $R/bitwise.txt; grep -v "bitwise=True" $R/bitwise.txt | head -n 8
echo "t $(( $(date +%s) - S )) s"; pack
timeout 150 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m pytest -q tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py tests/test_bench_timing.py -p no:cacheprovider" > $R/tests.txt 2>&1; echo "tests rc $?"; tail -n 1 $R/tests.txt; grep -E "^FAILED|^ERROR" $R/tests.txt | head -8; echo "t $(( $(date +%s) - S )) s"; pack
C=$V/workflow/config/bench/kernel-targets.yaml
[ $(( $(date +%s) - S )) -lt 200 ] && cur -m fastmax.cli bench --config $C --set D=128 "N=[4096,65536]" "dtypes=[float32]" "causal=[true]" "passes=[fwd]" "methods=[fastmax_cuda_tf32,chunk_linear_attn]" --out $R/f32 --max-minutes $(( (270 - ($(date +%s) - S)) / 60 )) > $R/f32.log 2>&1; echo "f32 rc $? $(( $(date +%s) - S )) s"
python3 - <<'PY'
import csv
import os
f = "/tmp/r4/f32/bench.csv"
rows = list(csv.DictReader(open(f if os.path.exists(f) else f + ".partial")))
t = {(r["method"], r["N"], r["pass"]): float(r["median_ms"]) for r in rows if r["status"] == "ok"}
for (m, n, ps), ms in sorted(t.items(), key=lambda x: (x[0][2], int(x[0][1]), x[0][0])):
    fla = t.get(("chunk_linear_attn", n, ps))
    print(f"{ps:8s} N={n:>6s} {m:22s} {ms:9.3f} ms  fla/this {fla / ms if fla else float('nan'):.2f}")
PY
pack
echo "end $(( $(date +%s) - S )) s"; pack
