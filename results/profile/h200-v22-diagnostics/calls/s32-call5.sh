# Session 32 call 5 (one GPU): call 4 again for aonly and bonly, whose builds failed there
# (their TMA block was not under `if constexpr (kWg)`, so the float32 kernels instantiated the
# swizzled tiles' static assertion). base = dbe47b2; aonly = a by TMA, b by cp.async; bonly =
# b by TMA, a by cp.async (both on one). A/B timings (token), kernel profiles.
R=/tmp/r5; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r5; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
if ! ls /tmp/base/fastmax/_C*.so >/dev/null 2>&1; then rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base; (cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) & fi
for t in aonly bonly; do rm -rf /tmp/$t && mkdir -p /tmp/$t && tar xzf .device/$t.tgz -C /tmp/$t; (cd /tmp/$t && python3 setup.py build_ext --inplace > $R/build-$t.log 2>&1) & done
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
wait; ls /tmp/aonly/fastmax/_C*.so /tmp/bonly/fastmax/_C*.so || { grep -m3 error $R/build-*.log; pack; exit 1; }; echo "build $(( $(date +%s) - S )) s"; ls /tmp/*/fastmax/_C*.so
dir() { case $1 in base) echo /tmp/base;; one) echo $V;; *) echo /tmp/$1;; esac; }
on() { local d=$(dir $1); shift; (cd $d && PYTHONPATH=/tmp/site:$d python3 "$@"); }
M=$R/ab-tiles.csv
for round in 1 2; do
  for t in base aonly bonly; do
    [ $(( $(date +%s) - S )) -gt 200 ] && break
    on $t -m fastmax.cli ab-time run --label $t --csv $M >> $R/ab.log 2>&1
  done
  echo "ab $round $(( $(date +%s) - S )) s"; pack
done
on one -m fastmax.cli ab-time table $M --base base 2>&1 | tail -n 24
for t in aonly bonly; do [ $(( $(date +%s) - S )) -gt 230 ] && break; mkdir -p $R/prof-$t; on $t $V/.device/prof.py $R/prof-$t 4 65536 token > $R/prof-$t.log 2>&1; head -1 $R/prof-$t.log; head -5 $R/prof-$t/kernels-*.csv; done
echo "end $(( $(date +%s) - S )) s"; pack
