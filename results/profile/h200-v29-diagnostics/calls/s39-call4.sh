# Session 39's fourth call (one GPU). The working tree is b941904 with the change committed as 9f19c56
# (DQ's, DK's and DV's factors from global memory loaded a step ahead); base is .device/base.tgz
# (b941904). (1) the TF32 file's GPU tests on it; (2) its errors against float64 (errn2.py of
# v28, unsplit); (3) three alternating A/B rounds of f32ab.py (v26's: forward and
# forward+backward at the paper's shape, default precision).
R=/tmp/r4; rm -rf $R; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r4; }
S=$(date +%s); V=$PWD; C=$V/results/profile
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) &
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait; ls /tmp/base/fastmax/_C*.so > /dev/null || { tail -20 $R/build-base.log; pack; exit 1; }
echo "built $(( $(date +%s) - S )) s"
on() { local t=$1; shift; if [ $t = pf ]; then (cd $V && PYTHONPATH=$V "$@"); else (cd /tmp/$t && PYTHONPATH=/tmp/$t "$@"); fi; }
on pf timeout 100 python3 -m pytest -q tests/test_tf32_forward.py -p no:cacheprovider > $R/tests.txt 2>&1; echo "tests rc $?"; tail -n 1 $R/tests.txt; grep -E "^FAILED|^E +assert" $R/tests.txt | cut -c1-200 | head -6; pack
FASTMAX_SEQUENCE_SPLIT=0 on pf python3 $C/h200-v28-diagnostics/calls/errn2.py pf f32 > $R/errn.txt 2>&1; cat $R/errn.txt; pack
for r in 1 2 3; do for t in base pf; do on $t python3 $V/.device/f32ab.py $t $r $R/ab.csv >> $R/ab.log 2>&1; done; pack; done
sort -t, -k2,2 -k1,1 $R/ab.csv; echo "end $(( $(date +%s) - S )) s"; pack
