"""Generated test suites for the model-based fuzz test (test_fuzz_model.py)."""
