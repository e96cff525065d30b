"""The webshop scenario (``examples/webshop``) as a script: the vendors' sandboxes, a real
``spokehub serve`` on the embedded store, and the story told step by step.

The demo (``demo/run.py``), its end-to-end test (``tests/test_webshop_demo_e2e.py``) and
the scenario benchmark (``bench/scenario.py``) share these modules.
"""
