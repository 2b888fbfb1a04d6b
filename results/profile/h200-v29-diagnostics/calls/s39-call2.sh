# Session 39's second call (one GPU). The working tree is the DK and DV passes on the wgmma kernel
# (v28's dkdv and keys diffs, with their host code tidied); base is .device/base.tgz (486ce50).
# (1) the TF32 file's and the op's GPU tests; (2) two alternating A/B rounds of bwdab.py
# (forward+backward at the default precision and with TF32 allowed); (3) float32 head_dim 64
# causal beside fla at every N, at both precisions; (4) the correctness matrix (fastmax check).
R=/tmp/r2; rm -rf $R; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r2; }
S=$(date +%s); V=$PWD; C=$V/results/profile/h200-v29-diagnostics/calls
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl > /dev/null 2>&1 || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) &
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait; ls /tmp/base/fastmax/_C*.so > /dev/null || { tail -20 $R/build-base.log; pack; exit 1; }
echo "built $(( $(date +%s) - S )) s"
on() { local t=$1; shift; if [ $t = head ]; then (cd $V && PYTHONPATH=/tmp/site:$V "$@"); else (cd /tmp/$t && PYTHONPATH=/tmp/site:/tmp/$t "$@"); fi; }
on head timeout 240 python3 -m pytest -q tests/test_tf32_forward.py tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py tests/test_bench_timing.py -p no:cacheprovider > $R/tests.txt 2>&1; echo "tests rc $?"; tail -n 1 $R/tests.txt; grep -E "^FAILED|^ERROR|^E +assert" $R/tests.txt | cut -c1-200 | head -8; pack
for r in 1 2; do for t in base head; do on $t python3 $C/bwdab.py $t $r $R/ab.csv >> $R/ab.log 2>&1; done; done
sort -t, -k2,2 -k1,1 $R/ab.csv; echo "ab $(( $(date +%s) - S )) s"; pack
on head timeout 200 python3 -m fastmax.cli bench --config workflow/config/bench/kernel-targets.yaml --set D=64 "dtypes=[float32]" "causal=[true]" "methods=[fastmax_cuda,fastmax_cuda_tf32,chunk_linear_attn]" --out $R/f32-d64 --max-minutes 3 > $R/f32-d64.log 2>&1; echo "bench rc $? $(( $(date +%s) - S )) s"; pack
[ $(( $(date +%s) - S )) -lt 440 ] && { on head timeout 140 python3 -m fastmax.cli check --out $R/kernels > $R/check.log 2>&1; echo "check rc $?"; tail -c 300 $R/check.log; }
echo "end $(( $(date +%s) - S )) s"; pack
