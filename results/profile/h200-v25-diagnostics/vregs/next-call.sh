# Prepared for the next session's first call (one GPU), not run: v through registers
# (vregs-on-f428756.diff) against da0fd26's kernel (ovl), built in one tree with
# csrc/pass_tf32_fwd.cu swapped. Before the call: .device/v/ovl.cu = HEAD's file, .device/v/vregs.cu
# = that file with the diff applied, and .device/tf32ab.py, .device/tf32err.py from ../calls/.
R=/tmp/r1; mkdir -p $R; pack() { tar czf $OUT/r.tgz -C /tmp r1; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit
export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
S=$(date +%s); V=$PWD; mkdir -p /tmp/so
(nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.version.cuda)"; git log -1 --format=%H; git status --short) > $R/gpu.txt 2>&1
for x in ovl vregs; do cp .device/v/$x.cu csrc/pass_tf32_fwd.cu; python3 setup.py build_ext --inplace > $R/build-$x.log 2>&1 || { tail -30 $R/build-$x.log; pack; exit 1; }; cp fastmax/_C*.so /tmp/so/$x.so; echo "build $x $(( $(date +%s) - S )) s"; done
SO=$(ls fastmax/_C*.so)
timeout 100 bash -c "cd $V && PYTHONPATH=/tmp/site:$V python3 -m pytest -q -rs tests/test_tf32_forward.py -p no:cacheprovider" > $R/tests-tf32-vregs.txt 2>&1; echo "vregs tf32 tests rc $?"; tail -n 1 $R/tests-tf32-vregs.txt; grep -E "^FAILED|^ERROR" $R/tests-tf32-vregs.txt | cut -c1-300 | head -8
(cd $V && PYTHONPATH=/tmp/site:$V python3 .device/tf32err.py) > $R/tf32err-vregs.txt 2>&1; cut -c1-200 $R/tf32err-vregs.txt; pack
for r in 1 2 3; do
  for x in ovl vregs; do cp /tmp/so/$x.so $SO; (cd $V && PYTHONPATH=/tmp/site:$V python3 .device/tf32ab.py $x $r $R/ab.csv) >> $R/ab.log 2>&1; done
  echo "round $r $(( $(date +%s) - S )) s"; pack
done
cat $R/ab.csv; pack
