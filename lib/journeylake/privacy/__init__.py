"""Privacy: where personal data may be (the PII scan), consent and the right to erasure."""
