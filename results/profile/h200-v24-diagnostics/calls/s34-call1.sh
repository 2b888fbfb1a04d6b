# Session 34 call 1 (one GPU): the float32 wgmma forward prototype (tf32fwd/) with its peers
# timed beside it, the peak-memory harness change's GPU test, where float32 forward+backward
# peaks (memory history), and the float32 forward+backward peaks re-read with the change.
R=/tmp/r1; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r1; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
python3 setup.py build_ext --inplace > $R/build.log 2>&1 &
BP=$!
T=results/profile/h200-v23-diagnostics/tf32fwd
(cd $T && nvcc -std=c++17 -O3 -gencode arch=compute_90a,code=sm_90a -I $V/csrc tf32_fwd.cu -o /tmp/tf32_fwd -Xptxas -v) > $R/tf32-build.log 2>&1; echo "tf32 build rc $? $(( $(date +%s) - S )) s"; tail -n 3 $R/tf32-build.log
timeout 120 /tmp/tf32_fwd > $R/tf32-run.txt 2>&1; echo "tf32 run rc $?"; cat $R/tf32-run.txt | tail -n 20; pack
wait $BP || { tail -30 $R/build.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
cur() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
timeout 120 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m pytest -q tests/test_bench_timing.py -p no:cacheprovider" > $R/tests-timing.txt 2>&1; echo "timing tests rc $?"; tail -n 2 $R/tests-timing.txt
for c in "float32 128 2048 1" "float32 128 8192 1" "float32 128 65536 1" "float32 128 16384 0" "float32 64 8192 1" "float32 64 16384 0" "bfloat16 128 8192 1"; do
  timeout 60 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 .device/memsnap.py $R $c" >> $R/memsnap.txt 2>&1
done
head -c 6000 $R/memsnap.txt; echo "mem $(( $(date +%s) - S )) s"; pack
C=$V/workflow/config/bench/kernel-targets.yaml
cur -m fastmax.cli bench --config $C --set D=128 "N=[65536]" "dtypes=[float32]" "causal=[true]" "passes=[fwd]" "methods=[fastmax_cuda,fastmax_cuda_tf32,chunk_linear_attn]" --out $R/f32fwd --max-minutes 3 > $R/f32fwd.log 2>&1; echo "f32fwd rc $? $(( $(date +%s) - S )) s"; tail -n 8 $R/f32fwd.log; pack
for d in 128 64; do
  cur -m fastmax.cli bench --config $C --set D=$d "dtypes=[float32]" "passes=[fwd_bwd]" "methods=[fastmax_cuda]" --out $R/peak-d$d --max-minutes 3 > $R/peak-d$d.log 2>&1; echo "peak d$d rc $? $(( $(date +%s) - S )) s"; pack
done
python3 - <<'PY'
import csv
for d in (128, 64):
    try:
        rows = list(csv.DictReader(open(f"/tmp/r1/peak-d{d}/bench.csv")))
    except OSError as e:
        print(e); continue
    for r in rows:
        n, D = int(r["N"]), int(r["D"]); t = 4 * 16 * n * D * 4
        if r.get("peak_mem_bytes"):
            print(d, r["causal"], n, round((4 * t + float(r["peak_mem_bytes"])) / (8 * t), 4))
PY
echo "end $(( $(date +%s) - S )) s"; pack
