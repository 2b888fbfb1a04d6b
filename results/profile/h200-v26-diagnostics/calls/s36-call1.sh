# Prepared for the next session's first call (one GPU), not run. Four trees built side by
# side: base (HEAD, .device/base.tgz), vregs (HEAD + vregs/vregs-on-60ed71f.diff,
# .device/vregs.tgz), knorm (HEAD + knorm/infer-knorm-on-60ed71f.diff, .device/knorm.tgz) and
# the working tree (HEAD + vregs + knorm/infer-knorm-on-vregs.diff). The working tree's TF32
# tests (if they fail, vregs' and knorm's too) and the op's GPU tests, its errors, bitwise
# against base at the default precision, then the four alternating at the paper's shape (no
# autograd: knorm's forward normalises k in the pass) and the working tree beside fla.
R=/tmp/r1; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r1; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=4
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
for x in base vregs knorm; do rm -rf /tmp/$x && mkdir -p /tmp/$x && tar xzf .device/$x.tgz -C /tmp/$x; (cd /tmp/$x && python3 setup.py build_ext --inplace > $R/build-$x.log 2>&1) & done
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait; for x in base vregs knorm; do ls /tmp/$x/fastmax/_C*.so > /dev/null || { tail -20 $R/build-$x.log; pack; exit 1; }; done
echo "built $(( $(date +%s) - S )) s"
cur() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
timeout 120 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m pytest -q -rs tests/test_tf32_forward.py -p no:cacheprovider" > $R/tests-tf32.txt 2>&1; echo "tf32 tests rc $?"; tail -n 1 $R/tests-tf32.txt; grep -E "^E +AssertionError|^FAILED|^ERROR" $R/tests-tf32.txt | cut -c1-300 | head -8
if grep -q -E "^FAILED|^ERROR" $R/tests-tf32.txt; then
  for x in vregs knorm; do
    timeout 60 bash -c "cd /tmp/$x && PYTHONPATH=/tmp/site:/tmp/$x python3 -m pytest -q tests/test_tf32_forward.py -p no:cacheprovider" > $R/tests-tf32-$x.txt 2>&1; echo "$x tf32 tests rc $?"; tail -n 1 $R/tests-tf32-$x.txt
  done
fi
cur .device/tf32err.py > $R/tf32err.txt 2>&1; cut -c1-200 $R/tf32err.txt; pack
(cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 -m fastmax.cli bitwise save --out /tmp/base.pt) > $R/bitwise.log 2>&1
cur -m fastmax.cli bitwise save --out /tmp/head.pt >> $R/bitwise.log 2>&1
cur -m fastmax.cli bitwise compare /tmp/base.pt /tmp/head.pt --csv $R/bitwise.csv > $R/bitwise.txt 2>&1; tail -n 1 $R/bitwise.txt; grep -v "bitwise=True" $R/bitwise.txt | head -n 8
timeout 150 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m pytest -q tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py tests/test_bench_timing.py -p no:cacheprovider" > $R/tests.txt 2>&1; echo "tests rc $?"; tail -n 1 $R/tests.txt; grep -E "^FAILED|^ERROR" $R/tests.txt | head -8; echo "t $(( $(date +%s) - S )) s"; pack
for r in 1 2 3; do
  for x in base vregs knorm cur; do
    T=/tmp/$x; [ $x = cur ] && T=$V
    (cd $T && PYTHONPATH=/tmp/site:$T python3 $V/.device/tf32ab.py $x $r $R/ab.csv) >> $R/ab.log 2>&1
  done
  echo "round $r $(( $(date +%s) - S )) s"; pack
done
sort -t, -k2,2n -k1,1 $R/ab.csv
C=$V/workflow/config/bench/kernel-targets.yaml
for d in 64 128; do
  [ $(( $(date +%s) - S )) -lt 420 ] && cur -m fastmax.cli bench --config $C --set D=$d "N=[8192,65536]" "dtypes=[float32]" "causal=[true]" "passes=[fwd]" "methods=[fastmax_cuda_tf32,chunk_linear_attn]" --out $R/f32-d$d --max-minutes 2 > $R/f32-d$d.log 2>&1; echo "f32 d$d rc $? $(( $(date +%s) - S )) s"; pack
done
echo "end $(( $(date +%s) - S )) s"; pack
