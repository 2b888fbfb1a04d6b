# Session 38's third call (one GPU). The working tree is fix (HEAD: each chunk's state product
# from zero, summed into S^T in float32); base is .device/base.tgz (98c2835) and fixdq is fix
# with ../dq-on-fix.diff (DQ on the wgmma kernel), built beside it. (1) the TF32 file's and the
# op's GPU tests on fixdq; (2) errors against float64 at N = 1024..65536 (errn2.py), unsplit;
# (3) two alternating A/B rounds of f32ab.py (float32 default precision, paper's shape).
R=/tmp/r3; rm -rf $R; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r3; }
S=$(date +%s); V=$PWD; C=$V/results/profile/h200-v28-diagnostics/calls
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl > /dev/null 2>&1 || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=5
rm -rf /tmp/base /tmp/fixdq && mkdir -p /tmp/base /tmp/fixdq && tar xzf .device/base.tgz -C /tmp/base
git archive HEAD | tar -x -C /tmp/fixdq && (cd /tmp/fixdq && git apply $V/results/profile/h200-v28-diagnostics/dq-on-fix.diff) || { echo "fixdq diff"; pack; exit 1; }
for t in base fixdq; do (cd /tmp/$t && python3 setup.py build_ext --inplace > $R/build-$t.log 2>&1) & done
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait; ls /tmp/base/fastmax/_C*.so /tmp/fixdq/fastmax/_C*.so > /dev/null || { tail -20 $R/build-*.log; pack; exit 1; }
echo "built $(( $(date +%s) - S )) s"
on() { local t=$1; shift; if [ $t = fix ]; then (cd $V && PYTHONPATH=/tmp/site:$V "$@"); else (cd /tmp/$t && PYTHONPATH=/tmp/site:/tmp/$t "$@"); fi; }
on fixdq timeout 240 python3 -m pytest -q tests/test_tf32_forward.py tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py tests/test_bench_timing.py -p no:cacheprovider > $R/tests-fixdq.txt 2>&1; echo "fixdq tests rc $?"; tail -n 1 $R/tests-fixdq.txt; grep -E "^FAILED|^ERROR|^E +assert" $R/tests-fixdq.txt | cut -c1-200 | head -8; pack
export FASTMAX_SEQUENCE_SPLIT=0
on fix python3 $C/errn2.py fix f32 tf32-64 tf32-128 bf16-128 >> $R/errn.txt 2>&1; cat $R/errn.txt; pack
on fixdq python3 $C/errn2.py fixdq f32 >> $R/errn.txt 2>&1
on base python3 $C/errn2.py base tf32-64 tf32-128 >> $R/errn.txt 2>&1
unset FASTMAX_SEQUENCE_SPLIT; tail -n 12 $R/errn.txt; echo "errn $(( $(date +%s) - S )) s"; pack
for r in 1 2; do for t in base fix fixdq; do on $t python3 $V/.device/f32ab.py $t $r $R/ab.csv >> $R/ab.log 2>&1; done; done
sort -t, -k2,2 -k1,1 $R/ab.csv; echo "end $(( $(date +%s) - S )) s"; pack
