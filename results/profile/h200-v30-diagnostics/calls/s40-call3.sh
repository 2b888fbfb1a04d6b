# Session 40, call 3 (one H200). Working tree ec87a6d (the split's state pass
# with two stages); .device/step1.tgz is 9fd9273. (1) the TF32 file's GPU tests on the working
# tree; (2) two alternating A/B rounds of f32ab.py: step1, head; (3) float32 head_dim 64 causal
# beside fla at every N for step1, then for head.
R=/tmp/r3; rm -rf $R; mkdir -p $R; S=$(date +%s); V=$PWD
pack() { tar czf $OUT/r.tgz -C /tmp r3; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl > /dev/null 2>&1 || { echo pip failed; exit 1; }
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
rm -rf /tmp/step1 && mkdir -p /tmp/step1 && tar xzf .device/step1.tgz -C /tmp/step1; (cd /tmp/step1 && python3 setup.py build_ext --inplace > $R/build-step1.log 2>&1) &
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait; ls /tmp/step1/fastmax/_C*.so > /dev/null || { tail -30 $R/build-step1.log; pack; exit 1; }
echo "built $(( $(date +%s) - S )) s"; rm -f $R/build*.log
PYTHONPATH=$V timeout 120 python3 -m pytest -q tests/test_tf32_forward.py -p no:cacheprovider > $R/tests.txt 2>&1; echo "tests rc $?"; tail -n 1 $R/tests.txt; grep -E "^FAILED|^E +assert" $R/tests.txt | cut -c1-200 | head -8; pack
for r in 1 2; do
  PYTHONPATH=$V python3 .device/f32ab.py head $r $R/ab.csv >> $R/ab.log 2>&1
  (cd /tmp/step1 && PYTHONPATH=/tmp/step1 python3 $V/.device/f32ab.py step1 $r $R/ab.csv >> $R/ab.log 2>&1)
done; pack
sort -t, -k2,2 -k1,1 $R/ab.csv; echo "ab $(( $(date +%s) - S )) s"
B="--config workflow/config/bench/kernel-targets.yaml --set D=64 dtypes=[float32] causal=[true] methods=[fastmax_cuda,fastmax_cuda_tf32,chunk_linear_attn] --max-minutes 4"
(cd /tmp/step1 && PYTHONPATH=/tmp/site:/tmp/step1 timeout $(( 480 - ($(date +%s) - S) )) python3 -m fastmax.cli bench $B --out $R/f32-d64-step1 > $R/f32-d64-step1.log 2>&1); echo "bench step1 rc $? $(( $(date +%s) - S )) s"; pack
PYTHONPATH=/tmp/site:$V timeout $(( 592 - ($(date +%s) - S) )) python3 -m fastmax.cli bench $B --out $R/f32-d64-head > $R/f32-d64-head.log 2>&1; echo "bench head rc $? $(( $(date +%s) - S )) s"; pack
