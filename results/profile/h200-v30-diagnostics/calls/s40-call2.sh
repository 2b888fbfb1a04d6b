# Session 40, call 2 (one H200). Working tree 1034c72 (9fd9273: DK and DV with one stage; then
# the forward and DQ split on the wgmma kernel); .device/step1.tgz is 9fd9273, .device/base.tgz
# f6619e3. (1) the TF32 file's and the op's GPU tests on the working tree; (2) two alternating
# A/B rounds of f32ab.py (forward, forward+backward at the paper's shape, float32 at the
# default precision, head_dim 64): base, step1, head; (3) float32 head_dim 64 causal beside fla
# at every N on the working tree.
R=/tmp/r2; rm -rf $R; mkdir -p $R; S=$(date +%s); V=$PWD
pack() { tar czf $OUT/r.tgz -C /tmp r2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl > /dev/null 2>&1 || { echo pip failed; exit 1; }
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=6
for t in base step1; do rm -rf /tmp/$t && mkdir -p /tmp/$t && tar xzf .device/$t.tgz -C /tmp/$t; (cd /tmp/$t && python3 setup.py build_ext --inplace > $R/build-$t.log 2>&1) & done
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait; for t in base step1; do ls /tmp/$t/fastmax/_C*.so > /dev/null || { tail -30 $R/build-$t.log; pack; exit 1; }; done
echo "built $(( $(date +%s) - S )) s"; rm -f $R/build*.log
PYTHONPATH=$V timeout 230 python3 -m pytest -q tests/test_tf32_forward.py tests/test_ops.py -p no:cacheprovider > $R/tests.txt 2>&1; echo "tests rc $?"; tail -n 1 $R/tests.txt; grep -E "^FAILED|^E +assert" $R/tests.txt | cut -c1-200 | head -8; pack
echo "tests $(( $(date +%s) - S )) s"
for r in 1 2; do
  PYTHONPATH=$V python3 .device/f32ab.py head $r $R/ab.csv >> $R/ab.log 2>&1
  for t in base step1; do (cd /tmp/$t && PYTHONPATH=/tmp/$t python3 $V/.device/f32ab.py $t $r $R/ab.csv >> $R/ab.log 2>&1); done
done; pack
sort -t, -k2,2 -k1,1 $R/ab.csv; echo "ab $(( $(date +%s) - S )) s"
PYTHONPATH=/tmp/site:$V timeout $(( 592 - ($(date +%s) - S) )) python3 -m fastmax.cli bench --config workflow/config/bench/kernel-targets.yaml --set D=64 "dtypes=[float32]" "causal=[true]" "methods=[fastmax_cuda,fastmax_cuda_tf32,chunk_linear_attn]" --out $R/f32-d64 --max-minutes 4 > $R/f32-d64.log 2>&1
echo "bench rc $? $(( $(date +%s) - S )) s"; pack
