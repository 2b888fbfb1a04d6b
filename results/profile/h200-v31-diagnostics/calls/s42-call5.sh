# Session 42, call 5 (the same warm H200 as call 4, carrying .whl: fla-core 0.6.0, litgpt
# 0.5.13): call 4's test files again, with LitGPT installed (call 4's run stopped at collecting
# tests/test_model_attention.py, which imports litgpt); the build of call 4 in place.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl > /dev/null 2>&1 || exit 1; R=/tmp/r4; PYTHONPATH=/tmp/site:$PWD timeout 200 python3 -m pytest -q tests/test_ops.py tests/test_tf32_forward.py tests/test_seq_max_cuda.py tests/test_model_attention.py -p no:cacheprovider > $R/tests.txt 2>&1; echo "tests rc $?"; tail -n 1 $R/tests.txt; grep -E "^FAILED|^ERROR" $R/tests.txt | head; tar czf $OUT/r.tgz -C /tmp r4
