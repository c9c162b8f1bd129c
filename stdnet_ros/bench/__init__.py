"""Benchmarks behind ``stdnet bench <target>`` (parsers in stdnet_ros.cli.bench): one module per target, each
``run(args)`` writing JSON under bench/results/ with the machine and commit (record.py). Never tests."""
