"""The router's HTTP request and response bodies, a module per noun: reps, teams (and
account owners), pools (rules and their versions too), leads, dry_run, subscriptions, backtests;
common.py what they share."""
