"""Models on the gold tables: point-in-time customer features, segmentation, propensity scores,
customer lifetime value and recommendations, tracked and registered with MLflow."""
