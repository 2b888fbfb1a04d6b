# Session 34 call 2 (one GPU): the TF32 wgmma causal forward in the op (working tree): its GPU
# tests and the op's, a float32 causal sweep of fastmax_cuda, fastmax_cuda_tf32 and fla, and
# the kernel table of one forward at the paper's shape.
R=/tmp/r2; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
grep -A2 "tf32_fwd" $R/build.log | grep -E "registers|spill" | head -4
echo "build $(( $(date +%s) - S )) s"
cur() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
timeout 200 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m pytest -q -rs tests/test_tf32_forward.py -p no:cacheprovider" > $R/tests-tf32.txt 2>&1; echo "tf32 tests rc $?"; tail -n 3 $R/tests-tf32.txt; grep -E "^FAILED|^ERROR|Error|assert" $R/tests-tf32.txt | head -12; echo "t $(( $(date +%s) - S )) s"; pack
cur .device/tf32prof.py > $R/tf32prof.txt 2>&1; head -n 20 $R/tf32prof.txt; pack
timeout 200 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m pytest -q tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py tests/test_bench_timing.py -p no:cacheprovider" > $R/tests.txt 2>&1; echo "tests rc $?"; tail -n 1 $R/tests.txt; grep -E "^FAILED|^ERROR" $R/tests.txt | head -8; echo "t $(( $(date +%s) - S )) s"; pack
C=$V/workflow/config/bench/kernel-targets.yaml
cur -m fastmax.cli bench --config $C --set D=128 "N=[1024,4096,16384,65536]" "dtypes=[float32]" "causal=[true]" "methods=[fastmax_cuda,fastmax_cuda_tf32,chunk_linear_attn]" --out $R/f32 --max-minutes 3 > $R/f32.log 2>&1; echo "f32 rc $? $(( $(date +%s) - S )) s"
python3 - <<'PY'
import csv
rows = list(csv.DictReader(open("/tmp/r2/f32/bench.csv")))
t = {(r["method"], r["N"], r["pass"]): float(r["median_ms"]) for r in rows if r["status"] == "ok"}
for (m, n, ps), ms in sorted(t.items(), key=lambda x: (x[0][2], int(x[0][1]), x[0][0])):
    fla = t.get(("chunk_linear_attn", n, ps))
    print(f"{ps:8s} N={n:>6s} {m:22s} {ms:9.3f} ms  fla/this {fla / ms if fla else float('nan'):.2f}")
PY
echo "end $(( $(date +%s) - S )) s"; pack
