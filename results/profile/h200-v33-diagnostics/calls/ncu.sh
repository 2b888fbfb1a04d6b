# Session 44's call 5 (one H200, fresh machine) from the repository's root at 31de0f8: ncu (clock
# control off) of one float32 forward+backward at the default precision at head_dim 128 (B=4,
# H=16, N=16384, causal, token; ../../h200-v28-diagnostics/dkdv/ncu_f32.py), every chunk_kernel
# launch, with the issue-stall ratios. A leaner set of sections than
# ../../h200-v32-diagnostics/calls/next-ncu.sh, to fit the session's last device minutes.
S=$(date +%s); export PYTHONUNBUFFERED=1 FASTMAX_BUILD_CUDA=1 FASTMAX_CUDA_ARCHS=9.0a MAX_JOBS=16
(nvidia-smi; ncu --version; python3 -c "import torch; print(torch.__version__, torch.version.cuda)") > $OUT/gpu.txt 2>&1
python3 setup.py build_ext --inplace > $OUT/build.log 2>&1 || { tail -20 $OUT/build.log; exit 1; }
echo "built $(( $(date +%s) - S )) s"
FASTMAX_NCU_HEAD_DIM=128 PYTHONPATH=$PWD ncu --clock-control none --profile-from-start off -k regex:chunk_kernel --section LaunchStats --section WarpStateStats --section SpeedOfLight --section SchedulerStats --metrics 'regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio' python3 results/profile/h200-v28-diagnostics/dkdv/ncu_f32.py > $OUT/ncu.txt 2> $OUT/ncu.err
echo "ncu rc $? $(( $(date +%s) - S )) s"
