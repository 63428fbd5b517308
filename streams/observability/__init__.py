"""What the workers export to operators: Prometheus metrics, Grafana dashboards."""
