# Session 28 call 3 (one GPU): ac2edb1 (base: q's norms folded into the backward, taken by a
# row pass) against the working tree (rq: the forward pass writes q's row scales for the
# backward), built for 9.0a: GPU tests, the correctness matrix, bitwise, A/B timings.
R=/tmp/r3; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r3; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & PB=$!
python3 setup.py build_ext --inplace > $R/build-rq.log 2>&1 || { tail -30 $R/build-rq.log; pack; exit 1; }
wait $PB || { tail -30 $R/build-base.log; pack; exit 1; }
echo "builds $(( $(date +%s) - S )) s"
base() { (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 "$@"); }
rq() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
(cd $V && PYTHONPATH=/tmp/site:$V timeout 170 python3 -m pytest -q tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py tests/test_rope.py tests/test_ieee_fast.py -p no:cacheprovider > $R/tests-rq.txt 2>&1); echo "tests rc $?"; tail -1 $R/tests-rq.txt; grep -E "^FAILED|^ERROR" $R/tests-rq.txt | head -5; echo "tests $(( $(date +%s) - S )) s"; pack
timeout 100 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m fastmax.cli check --out $R/kernels" > $R/check.log 2>&1; echo "check rc $?"; tail -c 300 $R/check.log; echo "check $(( $(date +%s) - S )) s"; pack
base -m fastmax.cli bitwise save --out /tmp/base.pt > $R/bitwise.log 2>&1
rq -m fastmax.cli bitwise save --out /tmp/rq.pt >> $R/bitwise.log 2>&1
rq -m fastmax.cli bitwise compare /tmp/base.pt /tmp/rq.pt --csv $R/bitwise-rq-base.csv > $R/bitwise.txt 2>&1; tail -1 $R/bitwise.txt; echo "bitwise $(( $(date +%s) - S )) s"; pack
M=$R/ab-bf16-rq.csv
for round in 1 2 3; do
  [ $(( $(date +%s) - S )) -gt 500 ] && break
  base -m fastmax.cli ab-time run --label base --csv $M >> $R/ab.log 2>&1; rq -m fastmax.cli ab-time run --label rq --csv $M >> $R/ab.log 2>&1
  echo "ab $round $(( $(date +%s) - S )) s"; pack
done
rq -m fastmax.cli ab-time table $M --base base 2>&1 | tail -14
pack
