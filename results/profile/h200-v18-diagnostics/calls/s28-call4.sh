# Session 28 call 4 (one GPU): the working tree (qn: the forward pass writes q's row scales, and
# DK and DV take q's norms as one row array) built for 9.0a, ac2edb1 (base) beside it: GPU tests,
# the correctness matrix, A/B timings (two rounds), then fastmax_cuda alone over every N at
# D=64 and 128 (times and peak memory).
R=/tmp/r4; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r4; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & PB=$!
python3 setup.py build_ext --inplace > $R/build-qn.log 2>&1 || { tail -30 $R/build-qn.log; pack; exit 1; }
wait $PB || { tail -30 $R/build-base.log; pack; exit 1; }
echo "builds $(( $(date +%s) - S )) s"
base() { (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 "$@"); }
qn() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
(cd $V && PYTHONPATH=/tmp/site:$V timeout 170 python3 -m pytest -q tests/test_ops.py tests/test_seq_max_cuda.py tests/test_model_attention.py tests/test_rope.py tests/test_ieee_fast.py -p no:cacheprovider > $R/tests-qn.txt 2>&1); echo "tests rc $?"; tail -1 $R/tests-qn.txt; grep -E "^FAILED|^ERROR" $R/tests-qn.txt | head -5; echo "tests $(( $(date +%s) - S )) s"; pack
timeout 100 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m fastmax.cli check --out $R/kernels" > $R/check.log 2>&1; echo "check rc $?"; tail -c 300 $R/check.log; echo "check $(( $(date +%s) - S )) s"; pack
M=$R/ab-bf16-qn.csv
for round in 1 2; do
  base -m fastmax.cli ab-time run --label base --csv $M >> $R/ab.log 2>&1; qn -m fastmax.cli ab-time run --label qn --csv $M >> $R/ab.log 2>&1
  echo "ab $round $(( $(date +%s) - S )) s"; pack
done
qn -m fastmax.cli ab-time table $M --base base 2>&1 | tail -14
C=workflow/config/bench/kernel-targets.yaml
for d in 64 128; do
  left=$(( (560 - ($(date +%s) - S)) / 60 )); [ $left -lt 1 ] && break
  qn -m fastmax.cli bench --config $C --set D=$d "methods=[fastmax_cuda]" --out $R/d$d --max-minutes $left > $R/d$d.log 2>&1
  echo "d$d rc $? $(( $(date +%s) - S )) s"; tail -c 150 $R/d$d.log; pack
done
pack
