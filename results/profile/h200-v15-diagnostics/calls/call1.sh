# Session 25 call 1 (one GPU): dd68653 (v14, base) against HEAD (reciprocals and norms without
# IEEE slow paths, two scalar slots, the W term times the norm), both built for 9.0a: bitwise,
# A/B timings, tests, ncu instruction counts; then the D=128 target sweep while time is left.
R=/tmp/r1; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r1; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H) > $R/gpu.txt 2>&1
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & PB=$!
python3 setup.py build_ext --inplace > $R/build-var.log 2>&1 || { tail -30 $R/build-var.log; pack; exit 1; }
wait $PB || { tail -30 $R/build-base.log; pack; exit 1; }
echo "builds $(( $(date +%s) - S )) s"
base() { (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 "$@"); }
var() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
base -m fastmax.cli bitwise save --out /tmp/base.pt > $R/bitwise.log 2>&1
var -m fastmax.cli bitwise save --out /tmp/var.pt >> $R/bitwise.log 2>&1
var -m fastmax.cli bitwise compare /tmp/base.pt /tmp/var.pt --csv $R/bitwise-rcp-v14.csv > $R/bitwise.txt 2>&1; echo "bitwise $(( $(date +%s) - S )) s"
A=$R/ab-bf16-v14-rcp.csv; F=$R/ab-float32-v14-rcp.csv
for round in 1 2 3; do base -m fastmax.cli ab-time run --label v14 --csv $A >> $R/ab.log 2>&1; var -m fastmax.cli ab-time run --label rcp --csv $A >> $R/ab.log 2>&1; echo "ab bf16 $round $(( $(date +%s) - S )) s"; done
(cd $V && PYTHONPATH=/tmp/site:$V timeout 240 python3 -m pytest -q tests/test_ieee_fast.py tests/test_ops.py tests/test_rope.py tests/test_model_attention.py -p no:cacheprovider > $R/tests-rcp.txt 2>&1); tail -1 $R/tests-rcp.txt; echo "tests $(( $(date +%s) - S )) s"
M=smsp__inst_executed.sum,gpu__time_duration.sum,smsp__inst_executed_pipe_alu.sum,smsp__inst_executed_pipe_fma.sum,smsp__inst_executed_op_ldgsts.sum
(cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base timeout 100 ncu --clock-control none --profile-from-start off -k regex:chunk_kernel --metrics $M python3 $V/.device/ncu_fb.py > $R/ncu-fb-v14.txt 2>&1)
(cd $V && PYTHONPATH=/tmp/site:$V timeout 100 ncu --clock-control none --profile-from-start off -k regex:chunk_kernel --metrics $M python3 .device/ncu_fb.py > $R/ncu-fb-rcp.txt 2>&1); echo "ncu $(( $(date +%s) - S )) s"
base -m fastmax.cli ab-time run --label v14 --csv $F --dtype float32 >> $R/ab.log 2>&1; var -m fastmax.cli ab-time run --label rcp --csv $F --dtype float32 >> $R/ab.log 2>&1; echo "ab f32 $(( $(date +%s) - S )) s"
pack
grep -c "bitwise=True" $R/bitwise.txt; grep -v "bitwise=True" $R/bitwise.txt | cut -c1-150 | head -24
var -m fastmax.cli ab-time table $A --base v14 2>&1 | tail -14
var -m fastmax.cli ab-time table $F --base v14 2>&1 | tail -14
grep -E "chunk_kernel|inst_executed.sum|duration" $R/ncu-fb-v14.txt $R/ncu-fb-rcp.txt | sed 's/  */ /g' | cut -c1-160
grep -E "passed|failed|error" $R/tests-rcp.txt | tail -5
L=$(( 570 - ($(date +%s) - S) ))
if [ $L -gt 100 ] && grep -q passed $R/tests-rcp.txt && ! grep -q failed $R/tests-rcp.txt; then
  var -m fastmax.cli bench --config workflow/config/bench/kernel-targets.yaml --set D=128 --out $R/d128 --max-minutes $(( (L - 40) / 60 )) > $R/d128.log 2>&1
  echo "sweep rc $? $(( $(date +%s) - S )) s"; tail -c 300 $R/d128.log
fi
pack
