# Session 25 call 3 (the same warm machine as call 2): the target sweep of the kept tree at the
# paper's length, N=65536, D=128 (the 3x-floor targets), then D=64 while time is left.
R=/tmp/r3; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r3; }
export PYTHONUNBUFFERED=1
S=$(date +%s); V=$PWD
var() { (cd $V && PYTHONPATH=/tmp/site:$V python3 "$@"); }
cat /tmp/keep > $R/keep.txt
[ "$(cat /tmp/keep)" = 1 ] || { echo "call 2 did not keep HEAD"; exit 1; }
(nvidia-smi; git log -1 --format=%H) > $R/gpu.txt 2>&1
C=$V/workflow/config/bench/kernel-targets.yaml
var -m fastmax.cli bench --config $C --set D=128 "N=[65536]" --out $R/d128-n65536 --max-minutes 6 > $R/d128.log 2>&1
echo "d128 rc $? $(( $(date +%s) - S )) s"; tail -c 200 $R/d128.log; pack
L=$(( 560 - ($(date +%s) - S) ))
[ $L -gt 150 ] && { var -m fastmax.cli bench --config $C --set D=64 "N=[65536]" --out $R/d64-n65536 --max-minutes $(( (L - 60) / 60 )) > $R/d64.log 2>&1; echo "d64 rc $? $(( $(date +%s) - S )) s"; tail -c 200 $R/d64.log; }
pack
