"""Leadfarm's event contracts: the CloudEvents envelope, every event's data model and the topics.

Everything that crosses a service boundary is defined here and nowhere else.
"""
