# Session 35 call 1 (one GPU): the TF32 forward at head_dim 64 with v rounded (working tree =
# 76f9b4b + tf32-d64 + vround diffs) against 76f9b4b (base): TF32 tests on both, errors, kernel
# tables at D=128 and 64, bitwise at the default precision, the op's GPU tests, and the TF32
# forward beside fla at N = 4096 and 65536, D = 64 and 128.
R=/tmp/r1; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r1; }
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
cur .device/tf32err.py > $R/tf32err.txt 2>&1; cat $R/tf32err.txt | cut -c1-200; pack
sed 's/128, device/int(sys.argv[1]), device/' .device/tf32prof.py > /tmp/prof.py
for d in 128 64; do cur /tmp/prof.py $d > $R/tf32prof-d$d.txt 2>&1; head -n 7 $R/tf32prof-d$d.txt | cut -c1-160; done; pack
wait; ls /tmp/base/fastmax/_C*.so > /dev/null || { tail -20 $R/build-base.log; pack; exit 1; }
echo "t $(( $(date +%s) - S )) s"
timeout 100 bash -c "cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 -m pytest -q -rs tests/test_tf32_forward.py -p no:cacheprovider" > $R/tests-tf32-base.txt 2>&1; echo "base tf32 tests rc $?"; tail -n 1 $R/tests-tf32-base.txt; grep -E "^FAILED|^ERROR" $R/tests-tf32-base.txt | cut -c1-300 | head -8
base $V/.device/tf32err.py > $R/tf32err-base.txt 2>&1; grep -v "^64" $R/tf32err-base.txt | cut -c1-200; pack
base -m fastmax.cli bitwise save --out /tmp/base.pt > $R/bitwise.log 2>&1
cur -m fastmax.cli bitwise save --out /tmp/head.pt >> $R/bitwise.log 2>&1
cur -m fastmax.cli bitwise compare /tmp/base.pt /tmp/head.pt --csv $R/bitwise-tf32d64-76f9b4b.csv > $R/bitwise.txt 2>&1; tail -n 1 $R/bitwise.txt; grep -v "bitwise=True" $R/bitwise.txt | head -n 8
echo "t $(( $(date +%s) - S )) s"; pack
timeout 150 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m pytest -q tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py tests/test_bench_timing.py -p no:cacheprovider" > $R/tests.txt 2>&1; echo "tests rc $?"; tail -n 1 $R/tests.txt; grep -E "^FAILED|^ERROR" $R/tests.txt | head -8; echo "t $(( $(date +%s) - S )) s"; pack
C=$V/workflow/config/bench/kernel-targets.yaml
for d in 64 128; do
[ $(( $(date +%s) - S )) -lt 420 ] && cur -m fastmax.cli bench --config $C --set D=$d "N=[4096,65536]" "dtypes=[float32]" "causal=[true]" "passes=[fwd]" "methods=[fastmax_cuda,fastmax_cuda_tf32,chunk_linear_attn]" --out $R/f32-d$d --max-minutes 2 > $R/f32-d$d.log 2>&1; echo "f32 d$d rc $? $(( $(date +%s) - S )) s"
python3 - $d <<'PY'
import csv
import os
import sys
f = f"/tmp/r1/f32-d{sys.argv[1]}/bench.csv"
rows = list(csv.DictReader(open(f if os.path.exists(f) else f + ".partial")))
t = {(r["method"], r["N"], r["pass"]): float(r["median_ms"]) for r in rows if r["status"] == "ok"}
for (m, n, ps), ms in sorted(t.items(), key=lambda x: (x[0][2], int(x[0][1]), x[0][0])):
    fla = t.get(("chunk_linear_attn", n, ps))
    print(f"D={sys.argv[1]} {ps:8s} N={n:>6s} {m:22s} {ms:9.3f} ms  fla/this {fla / ms if fla else float('nan'):.2f}")
PY
pack
done
echo "end $(( $(date +%s) - S )) s"; pack
