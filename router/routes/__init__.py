"""The router's HTTP routes, a module per noun: reps.py (reps, their leads and compliance),
teams.py (teams and account owners), configuration.py (pools, rules, their versions, the
dry run), leads.py (the queue, a lead's assignment, activities, accepting, rejecting,
assigning, opportunities), subscriptions.py (webhook subscriptions and deliveries).
common.py holds what they share; deps.py their dependency. api.py puts them under
/router/v1."""
