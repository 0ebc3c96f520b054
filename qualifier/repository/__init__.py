"""All of the qualifier's SQL, by what it stores: `leads` (profiles, engagement, decisions,
erasure), `definition_versions` (the stored definitions) and `outcomes` (what learning
counts)."""
