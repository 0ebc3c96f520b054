"""`leadfarm bench`: webhook-to-rep throughput and latency on both runtimes, beside the ceilings."""
