"""Data-quality expectations: evaluating the configured expectations of the tables a job wrote,
recording the results in audit_quality and stopping the job on a failed hard one."""
