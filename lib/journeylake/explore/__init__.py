"""Commands to look at the lakehouse: the table list and a spark-sql shell."""
