# Session 28 call 1 (one GPU): bcb68dd (base) against the working tree (fold: q's norms folded
# into the dk and dv passes, the three backward passes at once), built for 9.0a: GPU tests,
# bitwise, A/B timings (token, three rounds).
R=/tmp/r1; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r1; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & PB=$!
python3 setup.py build_ext --inplace > $R/build-fold.log 2>&1 || { tail -30 $R/build-fold.log; pack; exit 1; }
wait $PB || { tail -30 $R/build-base.log; pack; exit 1; }
echo "builds $(( $(date +%s) - S )) s"
base() { (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 "$@"); }
fold() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
(cd $V && PYTHONPATH=/tmp/site:$V timeout 170 python3 -m pytest -q -x tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py -p no:cacheprovider > $R/tests-fold.txt 2>&1); echo "tests rc $?"; tail -1 $R/tests-fold.txt; grep -E "^FAILED|^ERROR|Error" $R/tests-fold.txt | head -5; echo "tests $(( $(date +%s) - S )) s"; pack
base -m fastmax.cli bitwise save --out /tmp/base.pt > $R/bitwise.log 2>&1
fold -m fastmax.cli bitwise save --out /tmp/fold.pt >> $R/bitwise.log 2>&1
fold -m fastmax.cli bitwise compare /tmp/base.pt /tmp/fold.pt --csv $R/bitwise-fold-base.csv > $R/bitwise.txt 2>&1; tail -1 $R/bitwise.txt; echo "bitwise $(( $(date +%s) - S )) s"; pack
M=$R/ab-bf16-fold.csv
for round in 1 2 3; do
  [ $(( $(date +%s) - S )) -gt 470 ] && break
  base -m fastmax.cli ab-time run --label base --csv $M >> $R/ab.log 2>&1; fold -m fastmax.cli ab-time run --label fold --csv $M >> $R/ab.log 2>&1
  echo "ab $round $(( $(date +%s) - S )) s"; pack
done
fold -m fastmax.cli ab-time table $M --base base 2>&1 | tail -14
pack
