# Session 38's second call (one GPU). The working tree is HEAD with
# ../../h200-v27-diagnostics/dq/dqdkdv-on-f2605fd.diff applied; base (.device/base.tgz, git
# archive of HEAD without results/ and docs/) and dq (base with dq-on-f2605fd.diff) are built
# beside it. (1) the op's and the TF32 file's GPU tests on dq; (2) errors against float64 at
# N = 1024..65536 (errn.py) of base split and unsplit, dq and dqdkdv unsplit; (3) per-kernel
# times of one forward+backward at the paper's shape (kprof.py) of base, dq and dqdkdv, with
# the streams as they run and with CUDA_LAUNCH_BLOCKING=1 (each kernel alone).
R=/tmp/r2; rm -rf $R; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r2; }
S=$(date +%s); V=$PWD; C=$V/results/profile/h200-v28-diagnostics/calls
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl > /dev/null 2>&1 || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=5
for t in base dq; do
  rm -rf /tmp/$t && mkdir -p /tmp/$t && tar xzf .device/base.tgz -C /tmp/$t
  [ $t = base ] || (cd /tmp/$t && git apply $V/results/profile/h200-v27-diagnostics/dq/$t-on-f2605fd.diff) || { echo "$t diff"; pack; exit 1; }
  (cd /tmp/$t && python3 setup.py build_ext --inplace > $R/build-$t.log 2>&1) &
done
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait; ls /tmp/base/fastmax/_C*.so /tmp/dq/fastmax/_C*.so > /dev/null || { tail -20 $R/build-*.log; pack; exit 1; }
echo "built $(( $(date +%s) - S )) s"
on() { local t=$1; shift; if [ $t = dqdkdv ]; then (cd $V && PYTHONPATH=/tmp/site:$V "$@"); else (cd /tmp/$t && PYTHONPATH=/tmp/site:/tmp/$t "$@"); fi; }
on dq timeout 240 python3 -m pytest -q tests/test_tf32_forward.py tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py tests/test_bench_timing.py -p no:cacheprovider > $R/tests-dq.txt 2>&1; echo "dq tests rc $?"; tail -n 1 $R/tests-dq.txt; grep -E "^FAILED|^ERROR|^E +assert" $R/tests-dq.txt | cut -c1-200 | head -8; pack
for t in base dq dqdkdv; do FASTMAX_SEQUENCE_SPLIT=0 on $t python3 $C/errn.py $t-unsplit >> $R/errn.txt 2>&1; done
FASTMAX_SEQUENCE_SPLIT=1 on base python3 $C/errn.py base-split >> $R/errn.txt 2>&1
cat $R/errn.txt; echo "errn $(( $(date +%s) - S )) s"; pack
for t in base dq dqdkdv; do
  on $t python3 $C/kprof.py $t $R/kprof.csv >> $R/kprof.txt 2>&1
  CUDA_LAUNCH_BLOCKING=1 on $t python3 $C/kprof.py $t-alone $R/kprof.csv >> $R/kprof.txt 2>&1
done
cat $R/kprof.txt; echo "end $(( $(date +%s) - S )) s"; pack
