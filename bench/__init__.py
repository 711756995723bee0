"""sockjet's benchmark suite: echo throughput, latency and memory per connection, side by side.

Run ``python -m bench.run`` (see bench/README.md); results go to docs/benchmarks.md.
"""
