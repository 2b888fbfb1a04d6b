# Session 37, call 2 (one GPU). Working tree: d2943fe with the low parts of Q and K made one
# step ahead from each thread's own copies (no mid-step barrier), and a float32 head_dim 64
# causal case in the bitwise set. base: d2943fe (.device/base.tgz), built beside it, run with the
# working tree's bitwise.py. TF32 file tests, errors, bitwise, the op's GPU tests, three
# alternating A/B rounds (f32ab.py), float32 head_dim 64 causal beside fla at every N.
R=/tmp/r2; rm -rf $R; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl > /dev/null 2>&1 || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base && cp fastmax/bench/bitwise.py /tmp/base/fastmax/bench/
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) &
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait; ls /tmp/base/fastmax/_C*.so > /dev/null || { tail -20 $R/build-base.log; pack; exit 1; }
echo "built $(( $(date +%s) - S )) s"
cur() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
timeout 150 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m pytest -q tests/test_tf32_forward.py -p no:cacheprovider" > $R/tests-tf32.txt 2>&1; echo "tf32 tests rc $?"; tail -n 1 $R/tests-tf32.txt; grep -E "^E +AssertionError|^FAILED" $R/tests-tf32.txt | cut -c1-300 | head -8
cur .device/f32err.py > $R/f32err.txt 2>&1; head -6 $R/f32err.txt; pack
(cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 -m fastmax.cli bitwise save --out /tmp/base.pt) > $R/bitwise.log 2>&1
cur -m fastmax.cli bitwise save --out /tmp/head.pt >> $R/bitwise.log 2>&1
cur -m fastmax.cli bitwise compare /tmp/base.pt /tmp/head.pt --csv $R/bitwise.csv > $R/bitwise.txt 2>&1; tail -n 1 $R/bitwise.txt; grep -v " equal" $R/bitwise.txt | head -5
timeout 200 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m pytest -q tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py tests/test_bench_timing.py tests/test_bench_bitwise.py -p no:cacheprovider" > $R/tests.txt 2>&1; echo "tests rc $?"; tail -n 1 $R/tests.txt; grep -E "^FAILED|^ERROR" $R/tests.txt | head -8; echo "t $(( $(date +%s) - S )) s"; pack
for r in 1 2 3; do
  (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 $V/.device/f32ab.py base $r $R/ab.csv) >> $R/ab.log 2>&1
  cur .device/f32ab.py ahead $r $R/ab.csv >> $R/ab.log 2>&1
done
sort -t, -k2,2 -k1,1 $R/ab.csv; echo "ab $(( $(date +%s) - S )) s"; pack
cur -m fastmax.cli bench --config workflow/config/bench/kernel-targets.yaml --set D=64 "dtypes=[float32]" "causal=[true]" "methods=[fastmax_cuda,chunk_linear_attn]" --out $R/f32-d64 --max-minutes 3 > $R/f32-d64.log 2>&1; echo "bench rc $? $(( $(date +%s) - S )) s"
echo "end $(( $(date +%s) - S )) s"; pack
