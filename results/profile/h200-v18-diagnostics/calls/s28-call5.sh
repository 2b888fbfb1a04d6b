# Session 28 call 5 (one GPU, the session's last 343 s): the working tree (rq: the forward pass
# writes q's row scales; DK and DV take den / rq and a0 / rq, as in call 3; the aliasing fixes of
# the op's empty outputs) built for 9.0a beside ac2edb1 (base): the GPU tests of the op, then
# fastmax_cuda alone over every N at D=64 and 128 (times and peak memory), then one A/B round.
R=/tmp/r5; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r5; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & PB=$!
python3 setup.py build_ext --inplace > $R/build-rq.log 2>&1 || { tail -30 $R/build-rq.log; pack; exit 1; }
echo "build $(( $(date +%s) - S )) s"
base() { (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 "$@"); }
rq() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
(cd $V && PYTHONPATH=/tmp/site:$V timeout 110 python3 -m pytest -q tests/test_ops.py tests/test_seq_max_cuda.py -p no:cacheprovider > $R/tests-rq.txt 2>&1); echo "tests rc $?"; tail -1 $R/tests-rq.txt; grep -E "^FAILED|^ERROR" $R/tests-rq.txt | head -5; echo "tests $(( $(date +%s) - S )) s"; pack
C=workflow/config/bench/kernel-targets.yaml
for d in 64 128; do
  timeout 45 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m fastmax.cli bench --config $C --set D=$d 'methods=[fastmax_cuda]' --out $R/d$d --max-minutes 1" > $R/d$d.log 2>&1
  echo "d$d rc $? $(( $(date +%s) - S )) s"; tail -c 120 $R/d$d.log; pack
done
wait $PB || { tail -5 $R/build-base.log; pack; exit 0; }
M=$R/ab-bf16-rq.csv
if [ $(( $(date +%s) - S )) -lt 225 ]; then
  base -m fastmax.cli ab-time run --label base --csv $M >> $R/ab.log 2>&1; rq -m fastmax.cli ab-time run --label rq --csv $M >> $R/ab.log 2>&1
  echo "ab $(( $(date +%s) - S )) s"; rq -m fastmax.cli ab-time table $M --base base 2>&1 | tail -14
fi
pack
