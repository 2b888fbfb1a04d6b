# Session 36, call 5: the three-product forward with truncation splits (working tree: every
# high part the raw float32, low parts x - trunc(x), no cvt.rna) against HEAD (base): the TF32
# file's tests, two alternating rounds at the paper's shape, head_dim 64, default precision.
R=/tmp/r5; rm -rf $R; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r5; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl > /dev/null 2>&1 || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) &
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait; echo "built $(( $(date +%s) - S )) s"
timeout 60 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m pytest -q tests/test_tf32_forward.py -p no:cacheprovider" > $R/tests-tf32.txt 2>&1; echo "tf32 tests rc $?"; tail -n 1 $R/tests-tf32.txt; grep -E "^E +AssertionError|^FAILED" $R/tests-tf32.txt | cut -c1-300 | head -6; pack
for r in 1 2; do
  (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 $V/.device/f32ab.py base $r $R/ab.csv) >> $R/ab.log 2>&1
  (cd $V && PYTHONPATH=/tmp/site:$V python3 .device/f32ab.py msk $r $R/ab.csv) >> $R/ab.log 2>&1
  echo "round $r $(( $(date +%s) - S )) s"; pack
done
sort -t, -k2,2 -k1,1 $R/ab.csv
(cd $V && PYTHONPATH=/tmp/site:$V python3 -c "
from fastmax.correctness import Case, run_case
for n, h in ((200, (4, 2)), (700, (3, 3))):
    r = run_case(Case('cuda', 'float32', True, 64, n, *h, a1=0.7), 'cuda')
    print(n, h, ' '.join(f'{k}={r[k]:.2e}' for k in ('out', 'dq', 'dk', 'dv')), r['passed'])
") > $R/f32err.txt 2>&1; cat $R/f32err.txt; echo "end $(( $(date +%s) - S )) s"; pack
