# Session 25 call 4 (one GPU, ~200 s left): main (f5a0027, base) against wip/step-pos (dk/dv step
# positions without integer division), both built for 9.0a: bitwise, one A/B round, test_ops.
R=/tmp/r4; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r4; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
S=$(date +%s); V=$PWD
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base
(cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & PB=$!
python3 setup.py build_ext --inplace > $R/build-var.log 2>&1 || { tail -30 $R/build-var.log; pack; exit 1; }
wait $PB || { tail -30 $R/build-base.log; pack; exit 1; }
echo "builds $(( $(date +%s) - S )) s"
base() { (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 "$@"); }
var() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
base -m fastmax.cli bitwise save --out /tmp/base.pt > $R/bitwise.log 2>&1
var -m fastmax.cli bitwise save --out /tmp/var.pt >> $R/bitwise.log 2>&1
var -m fastmax.cli bitwise compare /tmp/base.pt /tmp/var.pt --csv $R/bitwise-steppos-v15.csv > $R/bitwise.txt 2>&1; tail -1 $R/bitwise.txt; echo "bitwise $(( $(date +%s) - S )) s"; pack
A=$R/ab-bf16-v15-steppos.csv
base -m fastmax.cli ab-time run --label v15 --csv $A >> $R/ab.log 2>&1; var -m fastmax.cli ab-time run --label steppos --csv $A >> $R/ab.log 2>&1
var -m fastmax.cli ab-time table $A --base v15 2>&1 | tail -12; echo "ab $(( $(date +%s) - S )) s"; pack
L=$(( 185 - ($(date +%s) - S) ))
(cd $V && PYTHONPATH=/tmp/site:$V timeout $L python3 -m pytest -q tests/test_ops.py -p no:cacheprovider > $R/tests-steppos.txt 2>&1); echo "tests rc $?"; tail -1 $R/tests-steppos.txt; echo "end $(( $(date +%s) - S )) s"
pack
