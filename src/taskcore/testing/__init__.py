"""Test machinery users can run against their own code: naive models, oracles and
Hypothesis ``RuleBasedStateMachine`` classes (needs the ``testing`` extra: hypothesis).
"""
