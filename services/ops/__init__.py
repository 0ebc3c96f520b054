"""Operating Leadfarm: dead letters (`leadfarm dlq`), consumer lag (`leadfarm lag`) and
rebuilding a service's read models (`leadfarm replay`). docs/operations.md is the runbook.

Every operation takes a `Runtime` that need not be started: its units, specs and settings
say where the service's tables, topics and consumer group are, on either runtime.
"""
