"""KPIs: daily KPI tables per channel and segment, their baselines and the alerts on them."""
