# Session 38's fourth call (one GPU). The working tree is fix2 (each chunk's state product from
# zero, summed into S^T in float32, S^T's old elements read before the step's last barrier, and
# the drift test); base is .device/base.tgz (98c2835); fix2dq is a copy of the working tree with
# ../dq-on-fix.diff (DQ on the wgmma kernel). (1) the TF32 file on fix2, the TF32 file and the
# op's GPU tests on fix2dq; (2) errors against float64 at N = 1024..65536 (errn2.py), unsplit;
# (3) two alternating A/B rounds of f32ab.py; (4) fix2dq's float32 head_dim 64 causal forward
# and forward+backward beside fla at every N.
R=/tmp/r4; rm -rf $R; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r4; }
S=$(date +%s); V=$PWD; C=$V/results/profile/h200-v28-diagnostics/calls
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short; git diff --stat) > $R/gpu.txt 2>&1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl > /dev/null 2>&1 || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=5
rm -rf /tmp/base /tmp/fix2dq && mkdir -p /tmp/base /tmp/fix2dq && tar xzf .device/base.tgz -C /tmp/base
tar --exclude=./.git --exclude=./build --exclude=./results --exclude=./.device --exclude=./.whl -cf - . | tar -x -C /tmp/fix2dq
(cd /tmp/fix2dq && git apply $V/results/profile/h200-v28-diagnostics/dq-on-fix.diff) || { echo "fix2dq diff"; pack; exit 1; }
for t in base fix2dq; do (cd /tmp/$t && python3 setup.py build_ext --inplace > $R/build-$t.log 2>&1) & done
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait; ls /tmp/base/fastmax/_C*.so /tmp/fix2dq/fastmax/_C*.so > /dev/null || { tail -20 $R/build-*.log; pack; exit 1; }
echo "built $(( $(date +%s) - S )) s"
on() { local t=$1; shift; if [ $t = fix2 ]; then (cd $V && PYTHONPATH=/tmp/site:$V "$@"); else (cd /tmp/$t && PYTHONPATH=/tmp/site:/tmp/$t "$@"); fi; }
on fix2 timeout 120 python3 -m pytest -q tests/test_tf32_forward.py -p no:cacheprovider > $R/tests-fix2.txt 2>&1; echo "fix2 tests rc $?"; tail -n 1 $R/tests-fix2.txt; grep -E "^FAILED|^ERROR" $R/tests-fix2.txt | head -8
on fix2dq timeout 240 python3 -m pytest -q tests/test_tf32_forward.py tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py tests/test_bench_timing.py -p no:cacheprovider > $R/tests-fix2dq.txt 2>&1; echo "fix2dq tests rc $?"; tail -n 1 $R/tests-fix2dq.txt; grep -E "^FAILED|^ERROR|^E +assert" $R/tests-fix2dq.txt | cut -c1-200 | head -8; pack
export FASTMAX_SEQUENCE_SPLIT=0
on fix2 python3 $C/errn2.py fix2 f32 tf32-64 >> $R/errn.txt 2>&1
on fix2dq python3 $C/errn2.py fix2dq f32 >> $R/errn.txt 2>&1
unset FASTMAX_SEQUENCE_SPLIT; cat $R/errn.txt; echo "errn $(( $(date +%s) - S )) s"; pack
for r in 1 2; do for t in base fix2 fix2dq; do on $t python3 $V/.device/f32ab.py $t $r $R/ab.csv >> $R/ab.log 2>&1; done; done
sort -t, -k2,2 -k1,1 $R/ab.csv; echo "ab $(( $(date +%s) - S )) s"; pack
on fix2dq timeout 170 python3 -m fastmax.cli bench --config workflow/config/bench/kernel-targets.yaml --set D=64 "dtypes=[float32]" "causal=[true]" "methods=[fastmax_cuda,chunk_linear_attn]" --out $R/f32-d64 --max-minutes 2.5 > $R/f32-d64.log 2>&1; echo "bench rc $?"
echo "end $(( $(date +%s) - S )) s"; pack
