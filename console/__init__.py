"""The revenue-operations console at `/console`: reps, pools and rules, the dry run,
qualification definitions and nurture tracks, read and changed through the services' own
APIs (so every change is authorised, validated and recorded the same way as from curl)."""
