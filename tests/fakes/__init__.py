"""Stand-ins for the outside systems Leadfarm talks to, served on local ports: HubSpot's,
Salesforce's and Slack's APIs as each documents them, an SMTP server, and a webhook receiver
or provider API that misbehaves (drips, floods). A Leadfarm service in a known state is a
scenario: tests/scenarios/."""
