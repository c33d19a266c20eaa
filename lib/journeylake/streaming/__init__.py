"""Streaming: clickstream from Kafka or a landing folder into bronze, and live KPIs."""
