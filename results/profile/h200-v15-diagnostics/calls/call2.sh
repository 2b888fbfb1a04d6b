# Session 25 call 2 (one GPU): d9a48c5 (rcp, base) against HEAD (dq's a1 / den by div_fast), both
# built for 9.0a: GPU tests, bitwise, A/B timings; then the D=128 target sweep of the kept tree
# (HEAD if it is bitwise equal, passes and is not slower at the paper's shape) while time is left.
R=/tmp/r2; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H) > $R/gpu.txt 2>&1
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & PB=$!
python3 setup.py build_ext --inplace > $R/build-var.log 2>&1 || { tail -30 $R/build-var.log; pack; exit 1; }
wait $PB || { tail -30 $R/build-base.log; pack; exit 1; }
echo "builds $(( $(date +%s) - S )) s"
base() { (cd /tmp/base && FASTMAX_GIT_COMMIT=d9a48c5c077939464584121b82afacea1ebdfe3e PYTHONPATH=/tmp/site:/tmp/base python3 "$@"); }
var() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
(cd $V && PYTHONPATH=/tmp/site:$V timeout 240 python3 -m pytest -q tests/test_ieee_fast.py tests/test_ops.py tests/test_rope.py tests/test_model_attention.py -p no:cacheprovider > $R/tests-div.txt 2>&1); tail -1 $R/tests-div.txt; echo "tests $(( $(date +%s) - S )) s"
base -m fastmax.cli bitwise save --out /tmp/base.pt > $R/bitwise.log 2>&1
var -m fastmax.cli bitwise save --out /tmp/var.pt >> $R/bitwise.log 2>&1
var -m fastmax.cli bitwise compare /tmp/base.pt /tmp/var.pt --csv $R/bitwise-div-rcp.csv > $R/bitwise.txt 2>&1; tail -1 $R/bitwise.txt; echo "bitwise $(( $(date +%s) - S )) s"
A=$R/ab-bf16-rcp-div.csv
for round in 1 2 3; do base -m fastmax.cli ab-time run --label rcp --csv $A >> $R/ab.log 2>&1; var -m fastmax.cli ab-time run --label div --csv $A >> $R/ab.log 2>&1; echo "ab $round $(( $(date +%s) - S )) s"; done
var -m fastmax.cli ab-time table $A --base rcp 2>&1 | tail -12
pack
KEEP=$(python3 -c "
import csv,statistics as s
r=[x for x in csv.DictReader(open('$A')) if x['N']=='65536' and x['D']=='128' and x['causal']=='True']
m={l:s.median(float(x['fwd_bwd_ms']) for x in r if x['label']==l) for l in ('rcp','div')}
print(int(m['div']<=m['rcp']))")
grep -q passed $R/tests-div.txt && ! grep -q failed $R/tests-div.txt && grep -q "40 of 40" $R/bitwise.txt || KEEP=0
echo "keep $KEEP"; echo $KEEP > /tmp/keep
if [ "$KEEP" = 1 ]; then SW=var; else SW=base; fi
L=$(( 575 - ($(date +%s) - S) ))
$SW -m fastmax.cli bench --config $V/workflow/config/bench/kernel-targets.yaml --set D=128 --out $R/d128 --max-minutes $(( (L - 45) / 60 )) > $R/d128.log 2>&1
echo "sweep $SW rc $? $(( $(date +%s) - S )) s"; tail -c 200 $R/d128.log
pack
