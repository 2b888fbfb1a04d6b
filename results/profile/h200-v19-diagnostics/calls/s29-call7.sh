# Session 29 call 7 (one GPU, the session's last ~250 s): main 521984b (base) against the
# working tree (ones: kWg's C stays a 64-column swizzled tile in the forward and DQN too, the
# ones column a constant 64 x 8 core-matrix tile beside it with m64n8k16 products), built for
# 9.0a: GPU tests of the op, then A/B timings (token) as time allows.
R=/tmp/r7; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r7; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & PB=$!
python3 setup.py build_ext --inplace > $R/build-ones.log 2>&1 || { tail -30 $R/build-ones.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
(cd $V && PYTHONPATH=/tmp/site:$V timeout 90 python3 -m pytest -q -x tests/test_ops.py tests/test_seq_max_cuda.py -p no:cacheprovider > $R/tests-ones.txt 2>&1); echo "tests rc $?"; tail -1 $R/tests-ones.txt; grep -E "^FAILED|^ERROR" $R/tests-ones.txt | head -5; echo "tests $(( $(date +%s) - S )) s"; pack
wait $PB || { tail -5 $R/build-base.log; pack; exit 0; }
M=$R/ab-bf16-ones.csv
for round in 1 2 3; do
  [ $(( $(date +%s) - S )) -gt 150 ] && break
  (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 -m fastmax.cli ab-time run --label base --csv $M >> $R/ab.log 2>&1)
  (cd $V && PYTHONPATH=/tmp/site:$V python3 -m fastmax.cli ab-time run --label ones --csv $M >> $R/ab.log 2>&1)
  echo "ab $round $(( $(date +%s) - S )) s"; pack
done
(cd $V && PYTHONPATH=/tmp/site:$V python3 -m fastmax.cli ab-time table $M --base base 2>&1 | tail -12)
echo "end $(( $(date +%s) - S )) s"; pack
