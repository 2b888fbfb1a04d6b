# Session 35 call 4 (one GPU): where the TF32 forward's time went between 76f9b4b and 429f413.
# Builds of pass_tf32_fwd.cu: novr (992732e: head dims 64 and 128, v truncated by the unit), vr
# (429f413: v rounded after its copies land, before the barrier), ovl (v rounded while the W and
# Q S products run, 16/8-byte pieces, a second barrier), and base (76f9b4b, head dim 128 only).
# Alternating timings at the paper's shape, ovl's TF32 tests, and ovl beside fla.
R=/tmp/r4; mkdir -p $R/so; pack() { tar czf $OUT/r.tgz -C /tmp r4; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=8
S=$(date +%s); V=$PWD
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
rm -rf /tmp/base && mkdir -p /tmp/base && tar xzf .device/base.tgz -C /tmp/base; (cd /tmp/base && python3 setup.py build_ext --inplace > $R/build-base.log 2>&1) &
cp .device/v/vr.cu csrc/pass_tf32_fwd.cu
python3 setup.py build_ext --inplace > $R/build.log 2>&1 || { tail -30 $R/build.log; pack; exit 1; }
cp fastmax/_C*.so $R/so/vr.so; echo "build vr $(( $(date +%s) - S )) s"
for x in ovl novr; do cp .device/v/$x.cu csrc/pass_tf32_fwd.cu; python3 setup.py build_ext --inplace > $R/build-$x.log 2>&1 || { tail -30 $R/build-$x.log; pack; exit 1; }; cp fastmax/_C*.so $R/so/$x.so; echo "build $x $(( $(date +%s) - S )) s"; done
SO=$(ls fastmax/_C*.so)
wait; ls /tmp/base/fastmax/_C*.so > /dev/null || { tail -20 $R/build-base.log; pack; exit 1; }
echo "base built $(( $(date +%s) - S )) s"; pack
cp $R/so/ovl.so $SO
timeout 100 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m pytest -q -rs tests/test_tf32_forward.py -p no:cacheprovider" > $R/tests-tf32-ovl.txt 2>&1; echo "ovl tf32 tests rc $?"; tail -n 1 $R/tests-tf32-ovl.txt; grep -E "^FAILED|^ERROR" $R/tests-tf32-ovl.txt | cut -c1-300 | head -8
(cd $V && PYTHONPATH=/tmp/site:$V python3 .device/tf32err.py) > $R/tf32err-ovl.txt 2>&1; cut -c1-200 $R/tf32err-ovl.txt; pack
for r in 1 2 3; do
  for x in novr vr ovl base; do
    if [ $x = base ]; then (cd /tmp/base && PYTHONPATH=/tmp/site:/tmp/base python3 $V/.device/tf32ab.py base $r $R/ab.csv) >> $R/ab.log 2>&1
    else cp $R/so/$x.so $SO; (cd $V && PYTHONPATH=/tmp/site:$V python3 .device/tf32ab.py $x $r $R/ab.csv) >> $R/ab.log 2>&1; fi
  done
  echo "round $r $(( $(date +%s) - S )) s"; pack
done
python3 - <<'PY'
import collections
import csv
t = collections.defaultdict(list)
for label, d, _, ms in csv.reader(open("/tmp/r4/ab.csv")):
    t[(int(d), label)].append(float(ms))
for (d, label), v in sorted(t.items()):
    print(f"D={d} {label:5s} " + " ".join(f"{x:.3f}" for x in v) + f"  min {min(v):.3f}")
PY
pack
cp $R/so/ovl.so $SO
C=$V/workflow/config/bench/kernel-targets.yaml
for d in 64 128; do
[ $(( $(date +%s) - S )) -lt 380 ] && (cd $V && PYTHONPATH=/tmp/site:$V python3 -m fastmax.cli bench --config $C --set D=$d "N=[8192,65536]" "dtypes=[float32]" "causal=[true]" "passes=[fwd]" "methods=[fastmax_cuda_tf32,chunk_linear_attn]" --out $R/f32-d$d --max-minutes 2) > $R/f32-d$d.log 2>&1; echo "f32 d$d rc $? $(( $(date +%s) - S )) s"
python3 - $d <<'PY'
import csv
import os
import sys
f = f"/tmp/r4/f32-d{sys.argv[1]}/bench.csv"
rows = list(csv.DictReader(open(f if os.path.exists(f) else f + ".partial")))
t = {(r["method"], r["N"], r["pass"]): float(r["median_ms"]) for r in rows if r["status"] == "ok"}
for (m, n, ps), ms in sorted(t.items(), key=lambda x: (x[0][2], int(x[0][1]), x[0][0])):
    fla = t.get(("chunk_linear_attn", n, ps))
    print(f"D={sys.argv[1]} {ps:8s} N={n:>6s} {m:22s} {ms:9.3f} ms  fla/this {fla / ms if fla else float('nan'):.2f}")
PY
pack
done
cp .device/v/ovl.cu csrc/pass_tf32_fwd.cu
echo "end $(( $(date +%s) - S )) s"; pack
